"""The generators: the mini world's text-to-image model (the Stable Diffusion analogue) and Stable Diffusion.

The mini generator is a bag-of-words text encoder and a diffusers UNet trained together on the captioned corpus,
sampled with classifier-free guidance (``train.train_generator``, ``sample.load_generator``,
``sample.generate_shard``); every hyper-parameter is a field of ``params.GeneratorParams`` or
``params.SampleParams``. Import the submodules: this package imports nothing, so that the Snakefile can validate
the config with ``params`` without loading torch and diffusers.
"""
