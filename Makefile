# chatsync: one non-recursive Makefile.
#   make          release build into bin/
#   make test     sanitizer build into build/asan/, unit + integration tests
#   make run      the whole stack in the foreground (Ctrl-C stops it)
#   make up/down  the same in the background
#   make faults   the long faults test: kill -9 and broken links under load, history check
#   make bench    benchmarks (never part of make test)

CC      ?= cc
PKGS    := libpq hiredis jansson libjwt libcurl openssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wcast-qual
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Icommon -Icli $(PKG_CFLAGS) -MMD -MP
LDLIBS  := $(PKG_LIBS) -lfcgi -lpthread -lm

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

.PHONY: all test unit faults run up down bench fmt lint clean
all: $(PROGRAMS)

$(OBJ)/%.o: %.c
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
test:
	@bash deploy/install-deps.sh
	$(MAKE) --no-print-directory BUILD=build/asan BIN=build/asan/bin SANITIZE=address,undefined CFLAGS="-O1 -g" all unit
	python3 tests/run.py --bin build/asan/bin --unit build/asan/tests

# The long form of the faults test that `make test` runs short (tests/faults/).
faults:
	@bash deploy/install-deps.sh
	$(MAKE) --no-print-directory BUILD=build/asan BIN=build/asan/bin SANITIZE=address,undefined CFLAGS="-O1 -g" all
	python3 tests/faults/faults.py --long --bin build/asan/bin

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
