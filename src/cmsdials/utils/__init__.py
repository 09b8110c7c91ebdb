"""The 2.x module layout of the client's base classes, kept importable.

:mod:`cmsdials.utils.api_client` (route-client base classes),
:mod:`cmsdials.utils.base_model` (result and filter base models) and
:mod:`cmsdials.utils.logger` name the classes the client is built from; new code needs
none of them (``from cmsdials import Dials``).
"""
