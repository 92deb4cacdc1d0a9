# chatsync: one non-recursive Makefile.
#   make          release build into bin/
#   make test     sanitizer build into build/asan/, unit + integration tests
#   make run      the whole stack in the foreground (Ctrl-C stops it)
#   make up/down  the same in the background
#   make bench    benchmarks (never part of make test)
# Every target that compiles first runs deploy/install-deps.sh (instant when
# nothing is missing), so that a fresh Debian 12 needs only `make` itself.
# INSTALL_DEPS=0 skips it (deploy/Dockerfile installs its own build packages).

CC      ?= cc
PKGS    := libpq hiredis jansson libjwt libcurl openssl
# Asked of pkg-config when first used, i.e. in the first recipe, after
# install-deps has run (on a fresh machine, pkg-config and the .pc files come
# with it); then kept.
PKG_CFLAGS = $(eval PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null))$(PKG_LIBS)
INSTALL_DEPS ?= 1

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wcast-qual
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Icommon -Icli $(PKG_CFLAGS) -MMD -MP
LDLIBS   = $(PKG_LIBS) -lfcgi -lpthread -lm

SANITIZE ?=
ifneq ($(SANITIZE),)
  ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
  LDFLAGS    += -fsanitize=$(SANITIZE)
endif

BUILD   ?= build
BIN     ?= bin
OBJ     := $(BUILD)/obj
SERVICES := chats messages sync import

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(OBJ)/%.o)
LIB        := $(OBJ)/libchatsync.a
CLI_SRC    := $(wildcard cli/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

service_objs = $(patsubst %.c,$(OBJ)/%.o,$(wildcard services/$(1)/*.c))
PROGRAMS := $(SERVICES:%=$(BIN)/%-svc) $(BIN)/chatsync

.PHONY: all test unit run up down bench fmt lint clean install-deps
all: $(PROGRAMS)

# Order-only: it runs before any compile but never makes an object out of date.
install-deps:
ifneq ($(INSTALL_DEPS),0)
	@bash deploy/install-deps.sh
endif

# Service objects are only named through $$(call ...) below, which would make
# them intermediate: deleted after each build, then rebuilt every time.
.SECONDARY:

$(OBJ)/%.o: %.c | install-deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(COMMON_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

.SECONDEXPANSION:
$(BIN)/%-svc: $$(call service_objs,$$*) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/chatsync: $(CLI_SRC:%.c=$(OBJ)/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(OBJ)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

unit: $(UNIT_BIN)

# The test build is a separate, instrumented tree: release objects never mix in.
test: install-deps
	$(MAKE) --no-print-directory INSTALL_DEPS=0 BUILD=build/asan BIN=build/asan/bin SANITIZE=address,undefined CFLAGS="-O1 -g" all unit
	python3 tests/run.py --bin build/asan/bin --unit build/asan/tests

run: all
	bash deploy/stack.sh run
up: all
	bash deploy/stack.sh up
down:
	bash deploy/stack.sh down
bench: all
	bash tests/bench/run.sh

fmt:
	clang-format -i common/*.[ch] services/*/*.[ch] cli/*.[ch] tests/unit/*.c
lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --suppress=missingIncludeSystem --inline-suppr -Icommon common services cli

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
