"""CPU emulator for minitorch's CUDA kernels: compiles the same .cu files with g++ and runs
each CUDA thread as a fiber, so kernels are tested without a GPU (DESIGN.md, principle 7).

    mod = EmulatedModule(path="minitorch/kernels/softmax_xent.cu")   # like cupy.RawModule
    k = mod.get_function("softmax_xent_fwd")
    k((blocks,), (256,), (x, y, np.int32(n)), shared_mem=1024)        # like cupy.RawKernel
"""

from .build import CompileError, EmulatorError, cache_dir
from .module import EmulatedFunction, EmulatedModule, available

__all__ = ["CompileError", "EmulatedFunction", "EmulatedModule", "EmulatorError", "available", "cache_dir"]
