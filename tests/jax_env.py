"""Settings for the JAX processes the tests start.

``FAST_XLA`` makes XLA compile faster on CPU (no backend optimization, no
fusion emitters): most of a tiny JAX test process is compiling, one program
per distinct shape, and these flags cut it several times over. They change
how XLA compiles, not what the program computes; every equality a test
checks compares programs compiled in processes with the same flags. A later
XLA that drops a flag fails loudly ("Unknown flags in XLA_FLAGS"): then
remove the flag here.
"""

FAST_XLA = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
