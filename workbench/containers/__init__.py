"""Containers: the pinned workbench image, the Docker engine, the container kernel.

Used by the ``docker`` compile driver (:mod:`workbench.compile.docker_driver`) and the
Docker cluster (:mod:`workbench.runtime.docker_cluster`). The ``docker`` SDK is imported
on first use only: ``pip install 'workbench[docker]'``.
"""
