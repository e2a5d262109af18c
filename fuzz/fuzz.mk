# fuzz/fuzz.mk: libFuzzer targets (included by the Makefile; never in CI).
#
#   make fuzz-build         builds every target into build/fuzz/bin
#   make fuzz               runs each target in turn, one at a time, niced:
#                           until FUZZ_RUNS executions (default 1,000,000) or
#                           FUZZ_TIME seconds (default 3600), whichever first;
#                           FUZZ_TIME=S given alone runs each for S seconds
#   make fuzz-TARGET        one target (e.g. make fuzz-png_decoder FUZZ_TIME=60)
#   make fuzz-report        executions, exec/s, cov, ft and time of the last runs
#   make fuzz-regressions   replays fuzz/regressions/*/ through each target
#                           (no fuzzing; what make test checks without libFuzzer)
#
# Two builds, both with coverage for libFuzzer and AddressSanitizer:
# - the C kernels (CSources/) compiled here with -fsanitize=fuzzer-no-link,
#   address,undefined into build/fuzz/obj; the C targets link them;
# - the Swift modules built by SwiftPM with --sanitize=fuzzer
#   --sanitize=address in their own scratch directory (.build/fuzz), so
#   .build and the normal build are untouched and Package.swift needs no
#   flags. Swift targets are compiled with swiftc against those modules and
#   linked, like libcam, with clang and the static Swift runtime: with the
#   SwiftPM objects of CAMKit, SwiftProtobuf (and CAMLib for the C ABI) and
#   the UBSan-instrumented kernels of build/fuzz/obj in place of SwiftPM's.
#
# Seeds are made at run time in build/fuzz/seeds (fixture files, small
# files cut or written from them, and the hand-made seeds of fuzz/seeds);
# the corpus each run grows is kept in build/fuzz/corpus, crashes in
# build/fuzz/artifacts, logs in build/fuzz/logs.

FUZZ_TARGETS_C     := png_decoder jpeg_decoder
FUZZ_TARGETS_SWIFT := onnx_loader npy_reader annotations
FUZZ_TARGETS_CAPI  := localize_tensor
FUZZ_TARGETS       := onnx_loader png_decoder jpeg_decoder npy_reader localize_tensor annotations

FUZZ_BUILD    := $(BUILD)/fuzz
FUZZ_SCRATCH  := .build/fuzz
FUZZ_FIXTURES ?= ../shared/fixtures
FUZZ_WSOL     ?= ../shared/wsol
FUZZ_SWIFT_BIN := $(FUZZ_SCRATCH)/release
FUZZ_RUNS     ?= $(if $(filter command line environment,$(origin FUZZ_TIME)),-1,1000000)
FUZZ_TIME     ?= 3600
FUZZ_NICE     ?= nice -n 19

FUZZ_SANITIZE := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_KERNEL_OBJ := $(patsubst CSources/%.c,$(FUZZ_BUILD)/obj/%.o,$(KERNEL_SRC))
FUZZ_SWIFT_IMPORTS := -I $(FUZZ_SWIFT_BIN)/Modules \
    -Xcc -fmodule-map-file=$(FUZZ_SWIFT_BIN)/CCAMKernels.build/module.modulemap -Xcc -Iinclude \
    $(foreach m,CJPEG CPNG COpenBLAS,-Xcc -fmodule-map-file=Sources/$(m)/module.modulemap) \
    $(addprefix -Xcc ,$(SYS_CFLAGS))
# The objects of the Swift modules a target links (globbed when linking:
# SwiftPM writes them).
FUZZ_SWIFT_OBJ = $(FUZZ_SWIFT_BIN)/CAMKit.build/*.o $(FUZZ_SWIFT_BIN)/SwiftProtobuf.build/*.o
FUZZ_LINK_SWIFT = $(SWIFT_STATIC)/$(shell uname -m)/swiftrt.o
# Full Foundation too (as the camkit executable links it): CAMKit's eval
# code reaches a String method of Foundation's through SwiftProtobuf's import.
FUZZ_LINK_RUNTIME = -L$(SWIFT_STATIC) $(FOUNDATION_STATIC) -Wl,--start-group $(addprefix -l,$(SWIFT_RUNTIME_LIBS)) \
    -Wl,--end-group $(SYS_LIBS) -lstdc++ -lm -ldl -lpthread -lutil

# libFuzzer's options for every run, then each target's own.
FUZZ_OPTIONS := -jobs=1 -workers=1 -rss_limit_mb=4096 -timeout=10 -detect_leaks=1 -print_final_stats=1
# The decoders and readers also get a 256 MB cap on any one allocation:
# with 4-megapixel images their largest buffers are tens of MB, so a bigger
# malloc means some length in the input was trusted (a bug, reported as an
# OOM), even where the 4 GB RSS limit would never be reached.
FUZZ_DICTS := $(CURDIR)/fuzz/dicts
FUZZ_OPTIONS_onnx_loader     := -max_len=65536 -dict=$(FUZZ_DICTS)/onnx.dict
FUZZ_OPTIONS_png_decoder     := -max_len=16384 -dict=$(FUZZ_DICTS)/png.dict -malloc_limit_mb=256
FUZZ_OPTIONS_jpeg_decoder    := -max_len=16384 -dict=$(FUZZ_DICTS)/jpeg.dict -malloc_limit_mb=256
FUZZ_OPTIONS_npy_reader      := -max_len=4096 -dict=$(FUZZ_DICTS)/npy.dict -malloc_limit_mb=256
FUZZ_OPTIONS_localize_tensor := -max_len=4096
FUZZ_OPTIONS_annotations     := -max_len=4096 -dict=$(FUZZ_DICTS)/annotations.dict -malloc_limit_mb=256
# OpenBLAS on one thread: the fuzzers run niced beside other work, and one
# thread keeps runs reproducible. The localize target finds its models
# (fuzz/models, written by gen_seeds.py --models) through CAMKIT_FUZZ_MODELS.
FUZZ_ENV := OPENBLAS_NUM_THREADS=1 CAMKIT_FUZZ_MODELS=$(CURDIR)/fuzz/models \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: fuzz fuzz-build fuzz-swift fuzz-seeds fuzz-report fuzz-regressions fuzz-clean \
        $(addprefix fuzz-,$(FUZZ_TARGETS))

fuzz-build: $(addprefix $(FUZZ_BUILD)/bin/,$(FUZZ_TARGETS))

# One target at a time, in this order; a target that finds a crash stops
# the rest (its input is in build/fuzz/artifacts/TARGET/).
fuzz: fuzz-build fuzz-seeds
	@for t in $(FUZZ_TARGETS); do $(MAKE) --no-print-directory fuzz-$$t || exit 1; done
	@$(MAKE) --no-print-directory fuzz-report

# libFuzzer runs in build/fuzz/work/TARGET: with -jobs it leaves its job
# log (fuzz-0.log) in the working directory, so every path is absolute.
FUZZ_ABS := $(abspath $(FUZZ_BUILD))
$(addprefix fuzz-,$(FUZZ_TARGETS)): fuzz-%: $(FUZZ_BUILD)/bin/% fuzz-seeds
	@mkdir -p $(addprefix $(FUZZ_BUILD)/,corpus/$* artifacts/$* work/$* logs)
	@echo "fuzz: $* (up to $(FUZZ_RUNS) runs, $(FUZZ_TIME) s; log in $(FUZZ_BUILD)/logs/$*.log)"
	@start=$$(date +%s); \
	cd $(FUZZ_BUILD)/work/$* && $(FUZZ_ENV) $(FUZZ_NICE) $(FUZZ_ABS)/bin/$* $(FUZZ_OPTIONS) $(FUZZ_OPTIONS_$*) \
	    -runs=$(FUZZ_RUNS) -max_total_time=$(FUZZ_TIME) -artifact_prefix=$(FUZZ_ABS)/artifacts/$*/ \
	    $(FUZZ_ABS)/corpus/$* $(FUZZ_ABS)/seeds/$* > $(FUZZ_ABS)/logs/$*.log 2>&1; \
	status=$$?; cd $(CURDIR); echo "wall: $$(( $$(date +%s) - start )) s" >> $(FUZZ_BUILD)/logs/$*.log; \
	grep -E '^#[0-9]+ +(INITED|DONE)|^stat::|^Done|^wall' $(FUZZ_BUILD)/logs/$*.log; \
	if [ $$status -ne 0 ]; then grep -E 'ERROR|SUMMARY|Test unit written|artifact' $(FUZZ_BUILD)/logs/$*.log; exit $$status; fi

# Per target: executions, exec/s, the final cov and ft, the seconds libFuzzer
# ran, from the logs of the last runs (cov and ft from the job's own log,
# where -jobs=1 sends libFuzzer's progress lines).
fuzz-report:
	@printf '%-16s %10s %8s %6s %7s %7s\n' target execs exec/s cov ft seconds
	@for t in $(FUZZ_TARGETS); do \
	  log=$(FUZZ_BUILD)/logs/$$t.log; [ -f $$log ] || continue; \
	  runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log); \
	  rate=$$(sed -n 's/^stat::average_exec_per_sec: *//p' $$log); \
	  job=$(FUZZ_BUILD)/work/$$t/fuzz-0.log; [ -f $$job ] || job=$$log; \
	  last=$$(grep -E '^#[0-9]+[[:space:]]' $$job | grep 'cov:' | tail -n 1); \
	  cov=$$(echo "$$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p'); \
	  ft=$$(echo "$$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p'); \
	  secs=$$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' $$log); \
	  printf '%-16s %10s %8s %6s %7s %7s\n' $$t "$$runs" "$$rate" "$$cov" "$$ft" "$$secs"; \
	done

# Every committed regression input through its target once (libFuzzer runs
# the files given and exits; a crash fails).
fuzz-regressions: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  files=$$(ls fuzz/regressions/$$t/* 2>/dev/null); [ -n "$$files" ] || continue; \
	  echo "fuzz-regressions: $$t ($$(echo $$files | wc -w) inputs)"; \
	  $(FUZZ_ENV) $(FUZZ_BUILD)/bin/$$t -runs=1 $$files > $(FUZZ_BUILD)/regressions-$$t.log 2>&1 || \
	    { tail -n 30 $(FUZZ_BUILD)/regressions-$$t.log; exit 1; }; \
	done

fuzz-clean:
	rm -rf $(FUZZ_BUILD) $(FUZZ_SCRATCH)

# --- builds ------------------------------------------------------------------

$(FUZZ_BUILD)/obj/%.o: CSources/%.c $(KERNEL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(FUZZ_SANITIZE) -fsanitize=fuzzer-no-link $(WARN) $(CPPFLAGS) -c $< -o $@

$(addprefix $(FUZZ_BUILD)/bin/,$(FUZZ_TARGETS_C)): $(FUZZ_BUILD)/bin/%: fuzz/%.c $(FUZZ_KERNEL_OBJ) $(KERNEL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(FUZZ_SANITIZE) -fsanitize=fuzzer -fuse-ld=lld $(WARN) $(CPPFLAGS) $< $(FUZZ_KERNEL_OBJ) $(LDLIBS) -o $@

# SwiftPM decides what is stale; this always asks it (a no-op when nothing
# changed), so the targets below always relink (seconds). SwiftPM hands
# swiftc one -sanitize= flag per sanitizer and swiftc keeps only the last,
# so the Swift modules would get ASan and no coverage: -Xswiftc adds the
# combined flag after them. The scratch directory sits inside .build, which
# SwiftPM leaves out of the package's file tree (CCAMKernels' path is the
# repository root: a scratch directory elsewhere in it breaks every
# incremental build with "unknown build description"). The targets lower
# Limits.tensorElements to 2^22 through the public API, as the image targets
# lower the pixel limit: tensors at the full 2^28 take seconds to plan under
# ASan, which libFuzzer reports as timeouts.
fuzz-swift:
	$(FUZZ_NICE) $(SWIFT) build -c release --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address \
	    --scratch-path $(FUZZ_SCRATCH) --target CAMLib

$(FUZZ_BUILD)/swift/%.o: fuzz/%.swift fuzz-swift
	@mkdir -p $(dir $@)
	$(SWIFT)c -c -O -g -sanitize=fuzzer,address -parse-as-library -module-name fuzz_$* $(FUZZ_SWIFT_IMPORTS) $< -o $@

$(addprefix $(FUZZ_BUILD)/bin/,$(FUZZ_TARGETS_SWIFT)): $(FUZZ_BUILD)/bin/%: $(FUZZ_BUILD)/swift/%.o $(FUZZ_KERNEL_OBJ) fuzz-swift
	@mkdir -p $(dir $@)
	$(CC) -fsanitize=fuzzer,address,undefined -fuse-ld=lld $(FUZZ_LINK_SWIFT) $< $(FUZZ_SWIFT_OBJ) \
	    $(FUZZ_KERNEL_OBJ) $(FUZZ_LINK_RUNTIME) -o $@

# The C ABI target: a C program against cam.h, linked with the instrumented
# CAMLib objects (the C ABI's Swift side) instead of the shipped libcam.so.
$(addprefix $(FUZZ_BUILD)/bin/,$(FUZZ_TARGETS_CAPI)): $(FUZZ_BUILD)/bin/%: fuzz/%.c include/cam.h $(FUZZ_KERNEL_OBJ) fuzz-swift
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(FUZZ_SANITIZE) -fsanitize=fuzzer -fuse-ld=lld $(WARN) -Iinclude $(FUZZ_LINK_SWIFT) $< \
	    $(FUZZ_SWIFT_BIN)/CAMLib.build/*.o $(FUZZ_SWIFT_OBJ) $(FUZZ_KERNEL_OBJ) $(FUZZ_LINK_RUNTIME) -o $@

# --- seeds --------------------------------------------------------------------

$(FUZZ_BUILD)/gen_image_seeds: fuzz/gen_image_seeds.c $(KERNEL_OBJ) $(KERNEL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) $(WARN) $(CPPFLAGS) $< $(KERNEL_OBJ) $(LDLIBS) -o $@

fuzz-seeds: $(FUZZ_BUILD)/seeds/.done

$(FUZZ_BUILD)/seeds/.done: fuzz/gen_seeds.py $(FUZZ_BUILD)/gen_image_seeds $(wildcard fuzz/seeds/*/*)
	@test -d $(FUZZ_FIXTURES)/models || { echo "fuzz: fixtures not found at $(FUZZ_FIXTURES) (set FUZZ_FIXTURES)" >&2; exit 1; }
	rm -rf $(FUZZ_BUILD)/seeds
	mkdir -p $(addprefix $(FUZZ_BUILD)/seeds/,$(FUZZ_TARGETS))
	python3 fuzz/gen_seeds.py $(FUZZ_BUILD)/seeds
	$(FUZZ_BUILD)/gen_image_seeds $(FUZZ_FIXTURES)/images $(FUZZ_BUILD)/seeds/png_decoder $(FUZZ_BUILD)/seeds/jpeg_decoder
	cp $(FUZZ_FIXTURES)/images/*.png $(FUZZ_BUILD)/seeds/png_decoder/
	cp $(FUZZ_FIXTURES)/images/*.jpg $(FUZZ_BUILD)/seeds/jpeg_decoder/
	for m in $(FUZZ_FIXTURES)/models/tiny_*/model.onnx; do \
	  cp $$m $(FUZZ_BUILD)/seeds/onnx_loader/$$(basename $$(dirname $$m)).onnx; done
	find $(FUZZ_FIXTURES) -name '*.npy' -size -16k | sort | \
	  while read -r f; do cp "$$f" $(FUZZ_BUILD)/seeds/npy_reader/$$(echo "$$f" | tr / _ | sed 's/^[._]*//'); done
	cp fuzz/seeds/annotations/* $(FUZZ_BUILD)/seeds/annotations/
	if [ -d $(FUZZ_WSOL)/annotations ]; then cp $(FUZZ_WSOL)/annotations.csv $(FUZZ_BUILD)/seeds/annotations/wsol.csv; \
	  for f in $$(ls $(FUZZ_WSOL)/annotations/*.xml | head -n 8); do cp $$f $(FUZZ_BUILD)/seeds/annotations/wsol_$$(basename $$f); done; fi
	touch $@
