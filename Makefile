# libvgg — build, install, test, demo. The README's two commands are `make demo` and `make test`.
PREFIX ?= /usr/local
SWIFT ?= swift
CC ?= cc
PYTHON ?= python3
VERSION := $(shell sed -n 's/^#define VGG_VERSION_STRING "\(.*\)"/\1/p' include/vgg.h)
BUILD := .build/release
STAGE := build/stage
APT_PACKAGES := pkg-config libprotobuf-c-dev protobuf-c-compiler libhdf5-dev libjpeg62-turbo-dev libpng-dev
PY_SITE = lib/python3/site-packages

.PHONY: all build deps install test test-c test-exports test-kernels test-python demo clean

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
	@$(PYTHON) -c "import numpy, pytest, h5py, PIL" 2>/dev/null || $(PYTHON) -m pip install -q numpy pytest h5py pillow

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
test: deps build test-exports test-kernels test-c test-python

test-kernels: build
	sh Tests/check_kernels.sh $(BUILD)

test-exports: build
	sh Tests/check_exports.sh $(BUILD)/libvgg.so include/vgg.h

# The C test links against an installed tree through pkg-config, as a user's program would.
test-c: build build/fixtures/tiny.vgg
	rm -rf $(STAGE) && $(MAKE) --no-print-directory install PREFIX=$(CURDIR)/$(STAGE) >/dev/null
	$(CC) -std=c11 -Wall -Wextra -Werror -o build/test_capi Tests/CAPITests/test_capi.c \
	  $$(PKG_CONFIG_PATH=$(CURDIR)/$(STAGE)/lib/pkgconfig pkg-config --cflags --libs vgg) -lm -lpthread
	cd build && SWIFT_BACKTRACE=enable=no ./test_capi fixtures/tiny.vgg

# A tiny VGG-shaped model in the Oxford V1 caffemodel layout, converted (for the C test).
build/fixtures/tiny.vgg: $(BUILD)/vgg-convert tools/caffe_fixtures.py
	mkdir -p build/fixtures
	$(PYTHON) tools/caffe_fixtures.py build/fixtures/tiny.caffemodel --arch tiny --seed 0
	$(BUILD)/vgg-convert build/fixtures/tiny.caffemodel -o $@ --input-size 32 --quiet

$(BUILD)/vgg-convert: build

test-python: build
	VGG_LIBRARY=$(CURDIR)/$(BUILD)/libvgg.so PYTHONPATH=$(CURDIR)/python $(PYTHON) -m pytest -q python/tests

# The main job: generate a full-size VGG16 caffemodel (Oxford layout, random weights), convert
# it, classify a generated image with dense multi-scale evaluation, print times.
demo: deps build
	@$(PYTHON) tools/demo.py

clean:
	rm -rf .build build
