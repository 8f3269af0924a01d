"""Rendered image worlds that stand in for real datasets when the workflow runs offline.

``synclone.worlds.mini`` is the default configuration's world: a deterministic, attribute-controlled renderer
of 32x32 shape images. Import it directly; this package stays empty so importing it costs nothing.
"""
