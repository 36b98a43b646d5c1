# setuptools entry point for the cffi extension modules (build_ext.py); all metadata lives in pyproject.toml
from setuptools import setup

setup(cffi_modules=["build_ext.py:ffibuilder", "build_ext.py:units_ffibuilder", "build_ext.py:engine_ffibuilder"])
