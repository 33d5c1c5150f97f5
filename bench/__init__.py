"""gradgen's benchmark suite: gradgen beside its peers and floors, run with ``python -m bench``.

Layout: ``workloads/`` defines what is computed (data, a NumPy reference and the
loss in gradgen's DSL), ``systems/`` how each system computes it, ``suite``
sets everything up in worker processes and times it round by round, and
``report`` writes the JSON and Markdown results.
"""
