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


def compilation_cache(folder) -> dict[str, str]:
    """Environment that makes JAX processes share compiled programs in ``folder``.

    JAX's persistent compilation cache, for every program however small: a
    process that compiles a program an earlier one compiled (the same model,
    shapes, devices and flags) loads it instead. It changes nothing the
    programs compute. An entry is written without a lock: a process reading
    it while another writes it can find it half written, and then warns
    (``Error reading persistent compilation cache entry``) and compiles, so
    use it where no test checks those processes' stderr line by line. In a
    multi-process run only process 0 writes.
    """
    return {
        "JAX_COMPILATION_CACHE_DIR": str(folder),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
