# camkit: build, test, benchmark.
#
#   make            release build: the Swift package, build/lib/libcam.so.1 (the
#                   C ABI of include/cam.h) and build/bin/camkit, both with the
#                   Swift runtime linked in
#   make install    installs libcam, cam.h, cam.pc and camkit under PREFIX
#                   (default /usr/local; DESTDIR for staging); make uninstall
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

.PHONY: all release lib test test-capi test-swift-asan test-swift-tsan test-build test-c test-c-asan test-swift bench demo deps clean install uninstall

all: release

# --- libcam.so and the installable camkit ---------------------------------
#
# SwiftPM compiles everything; the shipped binaries are linked here from the
# object lists SwiftPM writes, adding what SwiftPM's own link cannot: the
# static Swift runtime (no toolchain needed at run time), the SONAME and a
# version script that exports the cam_* functions only.
#
# libcam is linked by clang with the runtime archives named one by one:
# swiftc would add every library the modules autolink, and SwiftProtobuf's
# autolinks all of Foundation (with ICU, CoreFoundation and their data),
# which CAMKit does not use: it is written against FoundationEssentials.
# `-z defs` turns any symbol left undefined into a link error, so a call that
# resolves to full Foundation (String.range(of:), say) fails here instead of
# at dlopen. lld, because gold leaves hidden Swift symbols in .dynsym.

VERSION   := $(shell sed -n 's/^\#define CAM_VERSION_STRING "\(.*\)"/\1/p' include/cam.h)
MAJOR     := $(firstword $(subst ., ,$(VERSION)))
RELEASE_BIN = $(shell $(SWIFT) build -c release --show-bin-path)
LIBCAM    := $(BUILD)/lib/libcam.so.$(VERSION)
SWIFT_STATIC = $(dir $(shell $(SWIFT) -print-target-info 2>/dev/null | sed -n 's/.*"runtimeResourcePath": "\(.*\)".*/\1/p'))swift_static/linux
SWIFT_RUNTIME_LIBS := FoundationEssentials _FoundationCollections _FoundationCShims swift_StringProcessing \
    swift_RegexParser swiftSynchronization swift_Concurrency swiftGlibc swiftDispatch dispatch BlocksRuntime swiftCore
# The CLI's argument parser does use all of Foundation, whose archives
# depend on each other in a cycle: one group.
FOUNDATION_STATIC = -Xlinker --start-group $(foreach a,Foundation CoreFoundation FoundationInternationalization \
    FoundationEssentials _FoundationCollections _FoundationCShims _FoundationICU,-Xlinker $(SWIFT_STATIC)/lib$(a).a) \
    -Xlinker --end-group -lstdc++

release:
	$(SWIFT) build -c release
	@mkdir -p $(BUILD)/lib $(BUILD)/bin
	$(CC) -shared -fuse-ld=lld -Wl,--gc-sections -Wl,-z,defs -Wl,--version-script=lib/libcam.map \
	    -Wl,-soname=libcam.so.$(MAJOR) $(SWIFT_STATIC)/$(shell uname -m)/swiftrt.o \
	    @$(RELEASE_BIN)/cam.product/Objects.LinkFileList -L$(SWIFT_STATIC) \
	    -Wl,--start-group $(addprefix -l,$(SWIFT_RUNTIME_LIBS)) -Wl,--end-group \
	    $(SYS_LIBS) -lstdc++ -lm -ldl -lpthread -lutil -Wl,--exclude-libs,ALL -o $(LIBCAM)
	ln -sf libcam.so.$(VERSION) $(BUILD)/lib/libcam.so.$(MAJOR)
	ln -sf libcam.so.$(MAJOR) $(BUILD)/lib/libcam.so
	$(SWIFT)c -static-stdlib -use-ld=lld -Xlinker --gc-sections -emit-executable -Xlinker --defsym -Xlinker main=camkit_main \
	    @$(RELEASE_BIN)/camkit.product/Objects.LinkFileList $(FOUNDATION_STATIC) $(SYS_LIBS) -lm -o $(BUILD)/bin/camkit

lib: release

PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

# Installs what `make` built (run `make` first, as yourself; then install,
# as root if the prefix needs it). Debug sections are stripped on the way.
install:
	@test -f $(LIBCAM) && test -f $(BUILD)/bin/camkit || { echo "run 'make' before 'make install'" >&2; exit 1; }
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 $(LIBCAM) $(DESTDIR)$(LIBDIR)/
	strip --strip-debug $(DESTDIR)$(LIBDIR)/libcam.so.$(VERSION)
	ln -sf libcam.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libcam.so.$(MAJOR)
	ln -sf libcam.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libcam.so
	install -m 644 include/cam.h $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' lib/cam.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/cam.pc
	install -m 755 $(BUILD)/bin/camkit $(DESTDIR)$(BINDIR)/
	strip --strip-debug $(DESTDIR)$(BINDIR)/camkit

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libcam.so $(DESTDIR)$(LIBDIR)/libcam.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libcam.so.$(VERSION)
	rm -f $(DESTDIR)$(INCLUDEDIR)/cam.h $(DESTDIR)$(PKGCONFIGDIR)/cam.pc $(DESTDIR)$(BINDIR)/camkit

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
	for t in $(addprefix $(1)/,$(or $(5),$(C_TESTS))); do \
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

# The C kernels at the optimization they ship with (the Swift side stays a
# debug build, for @testable): SwiftPM's debug build compiles them at -O0,
# where the packed GEMM runs about ten times slower than OpenBLAS and the
# fixture suites took 130 s instead of 50 (the last -O given to clang wins).
test-swift:
	$(SWIFT) test -Xcc -O2

# The Swift suite again, under AddressSanitizer (Swift and C) with
# UndefinedBehaviorSanitizer on the C kernels (swiftc has no UBSan on
# Linux), in its own build folder; and the concurrency tests under
# ThreadSanitizer.
test-swift-asan:
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(abspath Tests/lsan.supp) UBSAN_OPTIONS=print_stacktrace=1 \
	    $(SWIFT) test --scratch-path $(abspath .build/asan) --sanitize=address \
	    -Xcc -O1 -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined

test-swift-tsan:
	TSAN_OPTIONS=halt_on_error=1 $(SWIFT) test --scratch-path $(abspath .build/tsan) --sanitize=thread --filter ConcurrencyTests

# Compiles every C test program in both flavours (worth running with -j).
test-build: $(addprefix $(BUILD)/c/,$(C_TESTS)) $(addprefix $(BUILD)/asan/,$(C_TESTS))

test: test-swift test-c-asan test-c test-capi test-swift-tsan test-swift-asan

# --- the C ABI, from outside Swift ------------------------------------------
#
# Programs that link the built libcam.so like any C program would; the
# sanitized ones instrument the test side only (libcam itself is the release
# build): LeakSanitizer still sees every allocation libcam makes, and
# ThreadSanitizer sees the shared model's results handed across threads.

CAPI_TESTS := test_cam_fixtures test_cam_threads test_cam_errors test_cam_soak
CAPI_HDR   := include/cam.h $(wildcard Tests/capi/*.h) Tests/c/check.h
# The toolchain's TSan runtime wraps libdispatch, so it links the toolchain's.
SWIFT_SHARED = $(shell $(SWIFT) -print-target-info 2>/dev/null | sed -n 's/.*"runtimeResourcePath": "\(.*\)".*/\1/p')/linux
TSAN_LINK  = -L$(SWIFT_SHARED) -ldispatch -lBlocksRuntime -Wl,-rpath,$(SWIFT_SHARED)
CAPI_LINK  := -L$(BUILD)/lib -lcam -lpthread -lm -Wl,-rpath,$(abspath $(BUILD)/lib)

$(BUILD)/capi/%: Tests/capi/%.c $(CAPI_HDR) | release
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) $(WARN) -Iinclude $< $(CAPI_LINK) -o $@

$(BUILD)/capi-asan/%: Tests/capi/%.c $(CAPI_HDR) | release
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(SANITIZE) -fuse-ld=lld $(WARN) -Iinclude $< $(CAPI_LINK) -o $@

$(BUILD)/capi-tsan/%: Tests/capi/%.c $(CAPI_HDR) | release
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g -fsanitize=thread $(WARN) -Iinclude $< $(CAPI_LINK) $(TSAN_LINK) -o $@

test-capi: release $(addprefix $(BUILD)/capi/,$(CAPI_TESTS)) $(BUILD)/capi-asan/test_cam_errors \
           $(BUILD)/capi-asan/test_cam_fixtures $(BUILD)/capi-tsan/test_cam_threads $(BUILD)/capi-tsan/test_cam_soak
	$(call run_c_tests,$(BUILD)/capi,,,capi,$(CAPI_TESTS))
	$(call run_c_tests,$(BUILD)/capi-asan,ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1,[asan+ubsan+lsan] ,capi-asan,test_cam_errors test_cam_fixtures)
	$(call run_c_tests,$(BUILD)/capi-tsan,TSAN_OPTIONS=halt_on_error=1 CAMKIT_SOAK_TOTAL=800,[tsan] ,capi-tsan,test_cam_threads test_cam_soak)
	CAMKIT_LIB=$(abspath $(LIBCAM)) CAMKIT_CLI=$(BUILD)/bin/camkit python3 Tests/capi/test_python.py
	bash Tests/capi/test_install.sh

# --- fuzzing (make fuzz; never in CI) -------------------------------------

-include fuzz/fuzz.mk

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
