import numpy as np
import pytest
import torch
from torch import nn

from synclone.attacks import PAPER_PGD_STEP, attack_correctness, fgsm, pgd

EPS = 0.1


def quadrant_images(n: int, seed: int):
    """16 x 16 images whose class is the quadrant holding a bright square, on a dark noisy background."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    ys = torch.arange(16)[None, :, None]
    xs = torch.arange(16)[None, None, :]
    top, left = (labels // 2 * 8 + 2)[:, None, None], (labels % 2 * 8 + 2)[:, None, None]
    square = ((ys >= top) & (ys < top + 4) & (xs >= left) & (xs < left + 4)).float()[:, None]
    images = 0.4 * torch.rand(n, 3, 16, 16, generator=g) + 0.4 * square
    return images, labels


@pytest.fixture(scope="module")
def trained_model():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(64, 4),
    )
    images, labels = quadrant_images(1024, seed=0)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(120):
        batch = slice(step % 16 * 64, step % 16 * 64 + 64)
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(images[batch]), labels[batch]).backward()
        optimiser.step()
    optimiser.zero_grad(set_to_none=True)
    return model.eval()


@pytest.fixture(scope="module")
def test_set():
    return quadrant_images(128, seed=1)


@pytest.fixture(scope="module")
def correctness(trained_model, test_set):
    """Per-image correctness with PGD steps of eps / 4 (ours) and 2 x eps (the paper's 2/225 against 1/255)."""
    images, labels = test_set
    return {
        step: attack_correctness(trained_model, images, labels, eps=EPS, step_size=step, steps=10, batch_size=64,
                                 device="cpu", seed=0)
        for step in (EPS / 4, 2 * EPS)
    }


def test_pgd_beats_fgsm_beats_clean(correctness):
    correct = correctness[EPS / 4]
    assert set(correct) == {"clean", "fgsm", "pgd"}
    assert all(c.dtype == bool and c.shape == (128,) for c in correct.values())
    clean, fgsm_acc, pgd_acc = (correct[k].mean() for k in ("clean", "fgsm", "pgd"))
    assert clean > 0.95
    assert clean > fgsm_acc > pgd_acc


def test_the_papers_oversized_pgd_step_weakens_the_attack(correctness):
    assert correctness[2 * EPS]["pgd"].mean() > correctness[EPS / 4]["pgd"].mean() + 0.03


@pytest.mark.parametrize("step_size", [EPS / 4, 2 * EPS])  # 2 x eps: the paper's too-large step
def test_adversarial_images_stay_in_the_eps_ball_and_the_unit_cube(trained_model, test_set, step_size):
    images, labels = test_set
    for adversarial in (fgsm(trained_model, images, labels, EPS),
                        pgd(trained_model, images, labels, EPS, step_size, steps=5)):
        assert (adversarial - images).abs().max() <= EPS + 1e-6
        assert adversarial.min() >= 0 and adversarial.max() <= 1
        assert not adversarial.requires_grad


def test_attacks_restore_modes_and_leave_no_gradients(trained_model, test_set):
    images, labels = test_set
    trained_model.train()
    trained_model[1].eval()  # a caller's mixed modes come back module by module
    batch_norm_mean = trained_model[1].running_mean.clone()
    trained_model[0].bias.requires_grad_(False)
    try:
        fgsm(trained_model, images[:32], labels[:32], EPS)
        pgd(trained_model, images[:32], labels[:32], EPS, steps=3)
        assert [m.training for m in trained_model] == [True, False] + [True] * 7
        assert torch.equal(trained_model[1].running_mean, batch_norm_mean)  # attacked in eval mode
        assert [p.requires_grad for p in trained_model.parameters()] == [True, False] + [True] * 6
        assert all(p.grad is None for p in trained_model.parameters())
    finally:
        trained_model[0].bias.requires_grad_(True)
        trained_model.eval()


def test_pgd_is_reproducible_with_a_seeded_generator(trained_model, test_set):
    images, labels = test_set[0][:16], test_set[1][:16]
    runs = [pgd(trained_model, images, labels, EPS, steps=3, generator=torch.Generator().manual_seed(s))
            for s in (3, 3, 4)]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


@pytest.mark.parametrize("random_start", [True, False])
def test_zero_eps_changes_nothing_and_uint8_images_are_accepted(trained_model, test_set, random_start):
    images, labels = test_set
    as_uint8 = (images.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
    correct = attack_correctness(trained_model, as_uint8, labels.numpy(), eps=0.0, step_size=PAPER_PGD_STEP,
                                 steps=3, batch_size=50, device="cpu", seed=0, random_start=random_start)
    np.testing.assert_array_equal(correct["fgsm"], correct["clean"])
    np.testing.assert_array_equal(correct["pgd"], correct["clean"])
    assert correct["clean"].mean() > 0.95
