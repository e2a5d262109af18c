# camkit: build, test, benchmark.
#
#   make            release build of the Swift package (library + C kernels)
#   make test       every test: C kernel tests (plain and under ASan+UBSan)
#                   and the Swift tests
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
KERNEL_HDR  := include/cam_kernels.h $(wildcard CSources/*.h)
C_TESTS     := $(basename $(notdir $(wildcard Tests/c/test_*.c)))

.PHONY: all release test test-c test-c-asan test-swift bench deps clean

all: release

release:
	$(SWIFT) build -c release

# --- C kernel tests --------------------------------------------------------

$(BUILD)/c/%: Tests/c/%.c Tests/c/check.h $(KERNEL_SRC) $(KERNEL_HDR) | $(BUILD)/c
	$(CC) $(CSTD) $(OPT) $(WARN) $(CPPFLAGS) $(KERNEL_SRC) $< $(LDLIBS) -o $@

$(BUILD)/asan/%: Tests/c/%.c Tests/c/check.h $(KERNEL_SRC) $(KERNEL_HDR) | $(BUILD)/asan
	$(CC) $(CSTD) $(SANITIZE) $(WARN) $(CPPFLAGS) $(KERNEL_SRC) $< $(LDLIBS) -o $@

$(BUILD)/c $(BUILD)/asan $(BUILD)/bench:
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

test: test-swift test-c-asan test-c

# --- benchmark --------------------------------------------------------------

$(BUILD)/bench/kernels: bench/kernels.c $(KERNEL_SRC) $(KERNEL_HDR) | $(BUILD)/bench
	$(CC) $(CSTD) $(OPT) $(WARN) $(CPPFLAGS) $(KERNEL_SRC) $< $(LDLIBS) -o $@

bench: release $(BUILD)/bench/kernels
	$(BUILD)/bench/kernels

# --- setup ------------------------------------------------------------------

DEBIAN_PACKAGES := pkg-config libopenblas-dev libpng-dev libjpeg62-turbo-dev

deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES)

clean:
	rm -rf $(BUILD) .build
