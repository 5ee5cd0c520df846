# libvgg — build, install, test, demo. The README's two commands are `make demo` and `make test`.
PREFIX ?= /usr/local
SWIFT ?= swift
CC ?= cc
PYTHON ?= python3
VERSION := $(shell sed -n 's/^#define VGG_VERSION_STRING "\(.*\)"/\1/p' include/vgg.h)
BUILD := .build/release
STAGE := build/stage
APT_PACKAGES := pkg-config libprotobuf-c-dev protobuf-c-compiler libhdf5-dev libjpeg62-turbo-dev libpng-dev valgrind
PY_SITE = lib/python3/site-packages
# Compile and link flags of the staged install, as a user's program gets them from pkg-config.
VGG_FLAGS = $$(PKG_CONFIG_PATH=$(CURDIR)/$(STAGE)/lib/pkgconfig pkg-config --cflags --libs vgg)

.PHONY: all build deps install test test-c test-exports test-kernels test-python test-fuzz fuzz demo clean

all: build

# System packages the build and tests need: installed with apt-get when running as root,
# otherwise a clear message says what to install.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing -- run: sudo apt-get install$$missing" >&2; exit 1; fi; \
	fi
	@$(PYTHON) -c "import numpy, pytest, h5py, PIL, dask.distributed" 2>/dev/null || \
	  $(PYTHON) -m pip install -q numpy pytest h5py pillow "dask[distributed]"

build:
	$(SWIFT) build -c release

install: build
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/$(PY_SITE)/vgg
	install -m 755 $(BUILD)/libvgg.so $(DESTDIR)$(PREFIX)/lib/libvgg.so.$(VERSION)
	ln -sf libvgg.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libvgg.so.0
	ln -sf libvgg.so.0 $(DESTDIR)$(PREFIX)/lib/libvgg.so
	install -m 644 include/vgg.h $(DESTDIR)$(PREFIX)/include/vgg.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' pkgconfig/vgg.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/vgg.pc
	install -m 755 $(BUILD)/vgg-convert $(DESTDIR)$(PREFIX)/bin/vgg-convert
	install -m 755 $(BUILD)/vgg-cli $(DESTDIR)$(PREFIX)/bin/vgg
	install -m 644 python/vgg/*.py $(DESTDIR)$(PREFIX)/$(PY_SITE)/vgg/

# Everything CI runs. Each runner prints its own summary line.
test: deps build test-exports test-kernels test-c test-fuzz test-python

test-kernels: build
	sh Tests/check_kernels.sh $(BUILD)

test-exports: build
	sh Tests/check_exports.sh $(BUILD)/libvgg.so include/vgg.h

# The C test links against an installed tree through pkg-config, as a user's program would.
test-c: build build/fixtures/tiny.vgg
	rm -rf $(STAGE) && $(MAKE) --no-print-directory install PREFIX=$(CURDIR)/$(STAGE) >/dev/null
	$(CC) -std=c11 -Wall -Wextra -Werror -o build/test_capi Tests/CAPITests/test_capi.c $(VGG_FLAGS) -lm -lpthread
	cd build && SWIFT_BACKTRACE=enable=no ./test_capi fixtures/tiny.vgg
	@echo "== the same under AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer on)"
	$(CC) -std=c11 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
	  -o build/test_capi_asan Tests/CAPITests/test_capi.c $(VGG_FLAGS) -lm -lpthread
	cd build && SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
	  ./test_capi_asan fixtures/tiny.vgg
	@echo "== corruption sweep: every truncation, 10000 bit flips"
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -o build/corruption_sweep Tests/CAPITests/corruption_sweep.c $(VGG_FLAGS)
	cd build && SWIFT_BACKTRACE=enable=no ./corruption_sweep fixtures/tiny.vgg 10000
	@echo "== open/forward/close loop under valgrind memcheck: no definite leaks"
	$(CC) -std=c11 -g -Wall -Wextra -Werror -o build/leak_loop Tests/CAPITests/leak_loop.c $(VGG_FLAGS)
	cd build && SWIFT_BACKTRACE=enable=no valgrind -q --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite \
	  --error-exitcode=3 ./leak_loop fixtures/tiny.vgg 5

# A tiny VGG-shaped model in the Oxford V1 caffemodel layout, converted (for the C test).
build/fixtures/tiny.vgg: $(BUILD)/vgg-convert tools/caffe_fixtures.py
	mkdir -p build/fixtures
	$(PYTHON) tools/caffe_fixtures.py build/fixtures/tiny.caffemodel --arch tiny --seed 0
	$(BUILD)/vgg-convert build/fixtures/tiny.caffemodel -o $@ --input-size 32 --quiet

$(BUILD)/vgg-convert: build

# libFuzzer targets (Tests/Fuzz): make test runs each briefly; make fuzz SECONDS=N runs longer.
# Inputs that crash are written to build/fuzz/ and fail the run. libhdf5 itself leaks on some
# malformed files (docs/RELIABILITY.md), so leak detection is off for the HDF5 target only.
FUZZ_SECONDS ?= 10
SECONDS ?= 60
fuzz-build:
	sh tools/build_fuzzers.sh >/dev/null 2>&1 || sh tools/build_fuzzers.sh

define run_fuzzers
	@for t in vgg caffe hdf5; do \
	  mkdir -p build/fuzz/corpus-$$t; \
	  leaks=1; [ $$t = hdf5 ] && leaks=0; \
	  SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=allocator_may_return_null=1 build/fuzz/fuzz-$$t -max_total_time=$(1) -detect_leaks=$$leaks -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/ build/fuzz/corpus-$$t Tests/Fuzz/corpus/$$t > build/fuzz/run-$$t.log 2>&1; \
	  status=$$?; \
	  runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' build/fuzz/run-$$t.log); \
	  echo "fuzz-$$t: $$runs inputs in $(1) s, exit $$status"; \
	  if [ $$status != 0 ]; then tail -30 build/fuzz/run-$$t.log; echo "0 passed, 1 failed"; exit 1; fi; \
	done; echo "3 passed, 0 failed"
endef

test-fuzz: fuzz-build
	$(call run_fuzzers,$(FUZZ_SECONDS))

fuzz: fuzz-build
	$(call run_fuzzers,$(SECONDS))

test-python: build
	VGG_LIBRARY=$(CURDIR)/$(BUILD)/libvgg.so PYTHONPATH=$(CURDIR)/python $(PYTHON) -m pytest -q python/tests

# The main job: generate a full-size VGG16 caffemodel (Oxford layout, random weights), convert
# it, classify a generated image with dense multi-scale evaluation, print times.
demo: deps build
	@$(PYTHON) tools/demo.py

clean:
	rm -rf .build build
