# Sourced by the GPU scripts (run_gpu.sh, train_ddp.sh) on the lent GPU machine, whose image
# lacks some of our dependencies: makes the named Python modules importable, installing the
# wheels carried in .whl/ into /tmp/site when one is missing, and puts the repository on
# PYTHONPATH (the package need not be installed).
# Usage: source bench/device_env.sh MODULE...
_imports="import $(IFS=,; echo "$*")"
if ! python3 -c "$_imports" 2>/dev/null; then
    if compgen -G ".whl/*.whl" >/dev/null; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    else
        echo "error: $* not all importable and .whl/ holds no wheels" >&2
        exit 4
    fi
fi
# the shared host/board package lives in boards/common (installed by pip elsewhere)
export PYTHONPATH=.:boards/common${PYTHONPATH:+:$PYTHONPATH}
unset _imports
