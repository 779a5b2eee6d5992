"""A Python language host (``pulumi-language-python``) for machines where the official one cannot be built.

The Pulumi engine starts ``pulumi-language-python`` with its own gRPC address as the last argument,
reads the port the host listens on from the first line of stdout, and calls the ``LanguageRuntime``
service. This package serves that service with the stubs the ``pulumi`` SDK ships, and runs programs
the way the official host does: the interpreter of Pulumi.yaml's ``virtualenv`` option runs
``pulumi-language-python-exec`` with the monitor/engine/project/stack arguments and the stack config
in ``PULUMI_CONFIG``/``PULUMI_CONFIG_SECRET_KEYS``. ``scripts/install-pulumi`` installs a wrapper
script beside the CLI that starts ``python -m fabric_resources.language_host``.

It depends on grpc and the SDK's protobuf stubs only (never on the rest of this package): the host
runs a user's program, not ours.
"""

from fabric_resources.language_host.host import LanguageHost, ProgramError, PythonProgram, serve

__all__ = ["LanguageHost", "ProgramError", "PythonProgram", "serve"]
