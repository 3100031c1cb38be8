"""The notebook face: the magics (``%%stream``, ``%%function``, ``%wb``), the plain
functions they parse into (:func:`~.stream_cell.stream_cell`,
:func:`~.function_cell.function_cell`), cell execution, the runs registry and the
kernelspec. Only :mod:`.magics` imports IPython.
"""
