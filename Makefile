# camkit: build, test, benchmark.
#
#   make            release build of the Swift package (library + C kernels)
#   make test       every test: C kernel tests (plain and under ASan+UBSan)
#                   and the Swift tests
#   make demo       trains the demo model on synthetic images (once, cached in
#                   out/demo), localizes the sample images, writes overlays to
#                   out/overlays
#   make bench      the kernel benchmark (conv vs bare GEMM, depthwise vs im2col)
#   make deps       installs the Debian packages the build needs (as root)
#
# The C tests and the benchmark are compiled here with the toolchain's clang
# and the same -O2 that SwiftPM uses for CSources/, so what they measure is
# what the package ships.

ifeq ($(origin CC),default)
CC        := clang
endif
SWIFT     ?= swift
BUILD     := build

SYS_CFLAGS := $(shell pkg-config --cflags openblas libpng libjpeg)
SYS_LIBS   := $(shell pkg-config --libs openblas libpng libjpeg)

CSTD      := -std=c11
WARN      := -Wall -Wextra -Werror
CPPFLAGS  := -Iinclude -ICSources $(SYS_CFLAGS)
OPT       := -O2
SANITIZE  := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDLIBS    := $(SYS_LIBS) -lm

KERNEL_SRC  := $(wildcard CSources/*.c)
KERNEL_HDR  := $(wildcard include/*.h) $(wildcard CSources/*.h)
C_TESTS     := $(basename $(notdir $(wildcard Tests/c/test_*.c)))

.PHONY: all release test test-build test-c test-c-asan test-swift bench demo deps clean

all: release

release:
	$(SWIFT) build -c release

# --- C kernel tests --------------------------------------------------------

# Each kernel file is compiled once per flavour (plain -O2, and sanitized),
# then linked into every test program.
KERNEL_OBJ      := $(patsubst CSources/%.c,$(BUILD)/c/obj/%.o,$(KERNEL_SRC))
KERNEL_OBJ_ASAN := $(patsubst CSources/%.c,$(BUILD)/asan/obj/%.o,$(KERNEL_SRC))

$(BUILD)/c/obj/%.o: CSources/%.c $(KERNEL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) $(WARN) $(CPPFLAGS) -c $< -o $@

$(BUILD)/asan/obj/%.o: CSources/%.c $(KERNEL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(SANITIZE) $(WARN) $(CPPFLAGS) -c $< -o $@

$(BUILD)/c/%: Tests/c/%.c Tests/c/check.h $(KERNEL_OBJ) $(KERNEL_HDR)
	$(CC) $(CSTD) $(OPT) $(WARN) $(CPPFLAGS) $< $(KERNEL_OBJ) $(LDLIBS) -o $@

# lld: the toolchain's default gold linker warns about every ASan symbol.
$(BUILD)/asan/%: Tests/c/%.c Tests/c/check.h $(KERNEL_OBJ_ASAN) $(KERNEL_HDR)
	$(CC) $(CSTD) $(SANITIZE) -fuse-ld=lld $(WARN) $(CPPFLAGS) $< $(KERNEL_OBJ_ASAN) $(LDLIBS) -o $@

$(BUILD)/bench:
	mkdir -p $@

# Runs each test program, keeps its "name: N passed, N failed" line, and ends
# with the grand total, the line CI reads.
define run_c_tests
	@passed=0; failed=0; status=0; \
	for t in $(addprefix $(1)/,$(C_TESTS)); do \
	  out=$$($(2) $$t) || status=1; line=$$(printf '%s\n' "$$out" | tail -n 1); \
	  echo "$(3)$$line"; \
	  p=$$(echo "$$line" | sed -n 's/.* \([0-9][0-9]*\) passed.*/\1/p'); \
	  f=$$(echo "$$line" | sed -n 's/.* \([0-9][0-9]*\) failed.*/\1/p'); \
	  if [ -z "$$p" ] || [ -z "$$f" ]; then status=1; f=$$((f + 1)); p=0; fi; \
	  passed=$$((passed + p)); failed=$$((failed + f)); \
	done; \
	echo "$(4): $$passed passed, $$failed failed"; \
	[ $$status -eq 0 ] && [ $$failed -eq 0 ]
endef

test-c: $(addprefix $(BUILD)/c/,$(C_TESTS))
	$(call run_c_tests,$(BUILD)/c,,,ctests)

# detect_leaks stays on: the kernels never allocate, the tests free what they take.
test-c-asan: $(addprefix $(BUILD)/asan/,$(C_TESTS))
	$(call run_c_tests,$(BUILD)/asan,ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1,[asan+ubsan] ,ctests-asan)

test-swift:
	$(SWIFT) test

# Compiles every C test program in both flavours (worth running with -j).
test-build: $(addprefix $(BUILD)/c/,$(C_TESTS)) $(addprefix $(BUILD)/asan/,$(C_TESTS))

test: test-swift test-c-asan test-c

# --- benchmark --------------------------------------------------------------

$(BUILD)/bench/kernels: bench/kernels.c $(KERNEL_OBJ) $(KERNEL_HDR) | $(BUILD)/bench
	$(CC) $(CSTD) $(OPT) $(WARN) $(CPPFLAGS) $< $(KERNEL_OBJ) $(LDLIBS) -o $@

bench: release $(BUILD)/bench/kernels
	$(BUILD)/bench/kernels

# --- demo -------------------------------------------------------------------

DEMO_DIR := out/demo

$(DEMO_DIR)/model.onnx:
	$(SWIFT) build -c release --product camkit-demo-data
	.build/release/camkit-demo-data $(DEMO_DIR)

demo: release $(DEMO_DIR)/model.onnx
	.build/release/camkit info $(DEMO_DIR)/model.onnx
	.build/release/camkit localize $(DEMO_DIR)/model.onnx $(DEMO_DIR)/samples --labels $(DEMO_DIR)/labels.txt \
	    --top-k 1 --overlay-dir out/overlays
	@echo "overlays written to out/overlays/"

# --- setup ------------------------------------------------------------------

DEBIAN_PACKAGES := pkg-config libopenblas-dev libpng-dev libjpeg62-turbo-dev

deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES)

clean:
	rm -rf $(BUILD) .build out
