"""The workbook's scripts (run with ``python tools/<name>.py``), and the notebook runner the tests import.

A package only so that ``from tools.notebook_runner import execute_notebook`` finds this folder,
not some other distribution's ``tools``; nothing here is installed with ``distill_lib``.
"""
