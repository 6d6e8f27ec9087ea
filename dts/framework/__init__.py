"""dts framework: everything below the suites.

Suites never import this package; they import ``api``. The layers follow
DPDK's DTS: a node session that runs commands (here: on this host, inside
network namespaces with ``ip netns exec``), a topology of namespaces and veth
links built from ``dts/topology.yaml``, process wrappers that fail a test on a
sanitizer report or an unexpected error log line, and the per-run settings.
"""
