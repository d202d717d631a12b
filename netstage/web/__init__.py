"""The what-if web page of ``netstage serve`` (Starlette; install ``netstage[serve]``).

Layer: between the command line and the auditor (pyproject ``[tool.importlinter]``): it
uses the simulator's library calls only, and the CLI starts it.
"""
