#!/usr/bin/env bash
# seqlab on one GPU machine that has torch preinstalled and no network.
#
# Run from the project root, with the data packages (bible-alignments, num2words, statsmodels, ...)
# importable, e.g. their wheels unzipped into one folder on PYTHONPATH:
#
#   PYTHONPATH=/path/to/wheels-unzipped OUT=/tmp/out bash scripts/gpu_check.sh
#
# src/ is put first on PYTHONPATH here (the package runs from the tree, not installed). Every stage
# has its own time limit and its own log under $OUT (default runs/gpu-check-<date>); a stage that
# fails or runs out of time does not stop the next one. $OUT/summary.txt lists each stage's exit
# status and seconds (124 = out of time). Stages, in order (STAGES="..." picks some):
#
#   env     the device, torch, CUDA, cuDNN, the Python packages found       -> env.log
#   tests   the test suite (CUDA tests run; optional extras skip)            -> tests.log     (TESTS_LIMIT, 1800 s)
#   bench   seqlab bench: the GPU plan, chosen on CUDA                       -> bench.log, bench/bench.json   (600 s)
#   stall   the first 100 training steps of the NT Transformer, before and
#           after the warm-up stall fix (scripts/stall_probe.py)             -> stall.log, stall/*.json   (900 s)
#   mt      the NT Transformer recipe for 2 minutes, then test BLEU/chrF
#           (beam 5)                                                         -> mt.log, mt-eval.log, mt/  (600 s)
#   ledger  seqlab reproduce --profile full, then seqlab report             -> ledger.log, ledger/report.html (1800 s)
#
# Limits can be changed per stage: TESTS_LIMIT, BENCH_LIMIT, STALL_LIMIT, MT_LIMIT, LEDGER_LIMIT (seconds).
# A stage that runs out of time gets SIGINT first (the trainer and the ledger stop cleanly), SIGKILL 30 s later.

set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-runs/gpu-check-$(date +%Y%m%d-%H%M%S)}
PY=${PYTHON:-python3}
STAGES=${STAGES:-"env tests bench stall mt ledger"}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export MPLBACKEND=Agg PYTHONUNBUFFERED=1
mkdir -p "$OUT" || exit 1
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
FAILED=0

# stage NAME LIMIT_SECONDS COMMAND...: run it with its limit, log to $OUT/NAME.log, note the outcome.
stage() {
    local name=$1 limit=$2
    shift 2
    local start rc
    start=$(date +%s)
    echo "== $name (limit ${limit} s): $*" | tee -a "$SUMMARY"
    timeout --signal=INT --kill-after=30 "$limit" "$@" > "$OUT/$name.log" 2>&1
    rc=$?
    [ "$rc" -ne 0 ] && FAILED=1
    local note=""
    [ "$rc" -eq 124 ] && note=" (out of time)"
    echo "   $name: exit $rc$note after $(( $(date +%s) - start )) s; log $OUT/$name.log" | tee -a "$SUMMARY"
    tail -n 5 "$OUT/$name.log" | sed 's/^/   | /'
    return 0
}

want() { case " $STAGES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if want env; then
    stage env 120 "$PY" - <<'EOF'
import importlib.metadata, os, platform, sys
import torch
print("python", sys.version.split()[0], platform.platform())
print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())
print("cuda available:", torch.cuda.is_available(), "devices:", torch.cuda.device_count())
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"  cuda:{i} {p.name}, {p.total_memory / 2**30:.0f} GiB, sm_{p.major}{p.minor}")
print("cpu count", os.cpu_count(), "torch threads", torch.get_num_threads())
import seqlab
print("seqlab from", os.path.dirname(seqlab.__file__))
for name in ("numpy", "sacrebleu", "sentencepiece", "safetensors", "num2words", "statsmodels", "bible-alignments",
             "matplotlib", "tqdm", "pytest", "triton", "sktime", "gensim", "selenium"):
    try:  # distributions, not imports: bible-alignments is data files (installed --no-deps)
        print(f"  {name:18s} {importlib.metadata.version(name)}")
    except importlib.metadata.PackageNotFoundError:  # optional extras may be missing: their tests skip
        print(f"  {name:18s} not found")
if not torch.cuda.is_available():
    sys.exit("no CUDA GPU visible: the GPU stages would measure the CPU")
EOF
    cat "$OUT/env.log" >> "$SUMMARY"
fi

if want tests; then
    stage tests "${TESTS_LIMIT:-1800}" "$PY" -m pytest -q -rs -p no:cacheprovider tests
fi

if want bench; then
    stage bench "${BENCH_LIMIT:-600}" "$PY" -m seqlab.cli bench --out "$OUT/bench"
fi

if want stall; then
    stage stall "${STALL_LIMIT:-900}" "$PY" scripts/stall_probe.py --recipe configs/mt-nt-transformer.toml \
        --steps 100 --out "$OUT/stall"
fi

if want mt; then
    stage mt "${MT_LIMIT:-600}" "$PY" -m seqlab.cli train configs/mt-nt-transformer.toml --out "$OUT/mt" \
        --set train.max_minutes=2 --set train.eval_every_minutes=1 --set train.progress=false
    stage mt-eval 600 "$PY" -m seqlab.cli evaluate "$OUT/mt" --split test --beam 5 --json "$OUT/mt/test.json"
fi

if want ledger; then
    stage ledger "${LEDGER_LIMIT:-1800}" "$PY" -m seqlab.cli reproduce --profile full --out "$OUT/ledger"
    stage report 300 "$PY" -m seqlab.cli report "$OUT/ledger"
fi

echo "all logs under $OUT; summary: $SUMMARY" | tee -a "$SUMMARY"
exit $FAILED
