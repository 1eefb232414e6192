"""Moved (issue 25): the toroidal-landscape chapter is :mod:`latentgeom.chapters.toroids`, its grid
:mod:`latentgeom.chapters.toroid_grid`, its networks :mod:`latentgeom.networks.toroid_networks` and
their geometry :mod:`latentgeom.networks.weight_space`.

This empty module stays only while ``chapters/__init__.py`` still imports ``landscapes``; delete it
when that import names ``toroids`` instead.
"""
