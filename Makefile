# chatsync: one non-recursive Makefile.
#   make          release build into bin/
#   make deps     install the Debian packages that are missing (deploy/install-deps.sh, root)
#   make test     sanitizer build into build/asan/, unit + integration tests
#   make unit     the unit tests alone (sanitizer build, no stack)
#   make run      the whole stack in the foreground (Ctrl-C stops it)
#   make up/down  the same in the background
#   make fuzz     libFuzzer targets (clang) into build/fuzz/, each run FUZZ_SECONDS
#   make tsan     ThreadSanitizer build into build/tsan/, unit + integration tests
#   make faults   the long faults test: kill -9 and broken links under load, history check
#   make test-cluster  the cluster stack (2 nodes, Redis Cluster, Postgres replica) and
#                 tests/cluster/ against it (sanitizer build)
#   make bench    benchmarks (never part of make test)
#   make lint     cppcheck and clang-tidy (.clang-tidy); docs/decisions/lint.md
#   make fmt      clang-format (.clang-format) in place; make fmt-check only reports
#   make compile_commands.json   the compilation database, for editors and clang-tidy
# Packages: the targets that run the stack or the tests (test, unit, tsan, fuzz,
# faults, run, up, bench) first run `make deps`, and say so; so on a fresh Debian 12
# `make run` (as root) is all there is to do. A build alone (make, lint, ...) never
# installs: it only checks, and names what is missing. INSTALL_DEPS=0 skips both
# (deploy/Dockerfile installs its own build packages).

CC      ?= cc
PKGS    := libpq hiredis jansson libcurl openssl
# Asked of pkg-config when first used, i.e. in the first recipe, after
# check-deps has passed (so pkg-config and the .pc files are there); then kept.
PKG_CFLAGS = $(eval PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null))$(PKG_LIBS)
INSTALL_DEPS ?= 1

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wcast-qual
CFLAGS  ?= -O2 -g
# The include path is the dependency direction: common/ sees only itself,
# migrate/ sees common/, and only cli/, services/import/ and the tests see both.
INCLUDES = -Icommon -Imigrate -Icli
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(INCLUDES) $(PKG_CFLAGS) -MMD -MP
LDLIBS   = $(PKG_LIBS) -lfcgi -lpthread -lm

SANITIZE ?=
ifneq ($(SANITIZE),)
  ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
  LDFLAGS    += -fsanitize=$(SANITIZE)
endif

BUILD   ?= build
BIN     ?= bin
OBJ     := $(BUILD)/obj
FUZZ_OBJ := build/fuzz/obj
SERVICES := chats messages sync import

# Two libraries: libchatsync (common/, the request runtime every service links)
# and libchatsync-migrate (migrate/: streaming import, export, verify), linked
# only by the chatsync command, import-svc and the tests.
COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(OBJ)/%.o)
LIB        := $(OBJ)/libchatsync.a
MIGRATE_SRC := $(wildcard migrate/*.c)
MIGRATE_LIB := $(OBJ)/libchatsync-migrate.a
CLI_SRC    := $(wildcard cli/*.c)
# Development keys and token signing: the chatsync command's, and the tests'
# (unit, fuzz) to make tokens with; never in a service.
DEVKEYS_OBJ := $(OBJ)/cli/devkeys.o
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

service_objs = $(patsubst %.c,$(OBJ)/%.o,$(wildcard services/$(1)/*.c))
PROGRAMS := $(SERVICES:%=$(BIN)/%-svc) $(BIN)/chatsync

.PHONY: all deps check-deps test unit unit-build bench-build tsan fuzz fuzz-build faults test-cluster run up down bench \
	fmt fmt-check lint compile_commands.json clean
all: $(PROGRAMS)

deps:
ifneq ($(INSTALL_DEPS),0)
	@echo "make deps: deploy/install-deps.sh installs the Debian packages that are missing"
	@bash deploy/install-deps.sh
endif

# Order-only: it runs before any compile but never makes an object out of date.
# It installs nothing: a missing package fails the build, named, with a hint.
check-deps:
ifneq ($(INSTALL_DEPS),0)
	@bash deploy/install-deps.sh --check
endif

# Service, unit-test and fuzz-target objects are only named through patterns or
# $$(call ...) below, which would make them intermediate: deleted after each
# build, then rebuilt every time. An empty .SECONDARY keeps every target; a
# second .SECONDARY with a list would silently narrow it to that list.
.SECONDARY:

$(OBJ)/common/%.o $(FUZZ_OBJ)/common/%.o: INCLUDES = -Icommon
$(OBJ)/migrate/%.o $(FUZZ_OBJ)/migrate/%.o: INCLUDES = -Icommon -Imigrate
$(OBJ)/services/%.o: INCLUDES = -Icommon
$(OBJ)/services/import/%.o: INCLUDES = -Icommon -Imigrate

$(OBJ)/%.o: %.c | check-deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(COMMON_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(MIGRATE_LIB): $(MIGRATE_SRC:%.c=$(OBJ)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN)/import-svc: $(MIGRATE_LIB)

.SECONDEXPANSION:
$(BIN)/%-svc: $$(call service_objs,$$*) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(LIB) $(MIGRATE_LIB),$^) $(filter $(MIGRATE_LIB),$^) $(LIB) $(LDLIBS)

$(BIN)/chatsync: $(CLI_SRC:%.c=$(OBJ)/%.o) $(MIGRATE_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(OBJ)/tests/unit/%.o $(DEVKEYS_OBJ) $(MIGRATE_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

unit-build: $(UNIT_BIN)

# The bench's C tools (tests/bench/run.sh compiles and links them itself): made
# here as objects only, with the project's warnings, so that compile_commands.json
# (and so lint) and fmt-check cover them. sql_dump.c takes a service's main.c;
# chats-svc's stands for the three.
BENCH_OBJ := $(patsubst %.c,$(OBJ)/%.o,$(wildcard tests/bench/*.c))
$(OBJ)/tests/bench/%.o: INCLUDES = -Icommon -Icli -I.
$(OBJ)/tests/bench/sql_dump.o: INCLUDES = -Icommon -I. -Iservices/chats \
	-DSERVICE_MAIN='"services/chats/main.c"'
bench-build: $(BENCH_OBJ)

# The test builds are separate, instrumented trees: release objects never mix in.
# make test runs, in one report: unit and integration tests against the ASan/UBSan
# build, each fuzz target for FUZZ_TEST_SECONDS, then the unit and integration
# tests again against the ThreadSanitizer build.
ASAN_MAKE = $(MAKE) --no-print-directory INSTALL_DEPS=0 BUILD=build/asan BIN=build/asan/bin \
	    SANITIZE=address,undefined CFLAGS="-O1 -g"
TSAN_MAKE = $(MAKE) --no-print-directory INSTALL_DEPS=0 BUILD=build/tsan BIN=build/tsan/bin \
	    SANITIZE=thread CFLAGS="-O1 -g"
FUZZ_TEST_SECONDS ?= 20

test: deps
	$(ASAN_MAKE) all unit-build
	$(MAKE) --no-print-directory INSTALL_DEPS=0 fuzz-build
	$(TSAN_MAKE) all unit-build
	python3 tests/run.py --bin build/asan/bin --unit build/asan/tests \
	  --fuzz build/fuzz --fuzz-seconds $(FUZZ_TEST_SECONDS) --tsan-build build/tsan

# The cmocka binaries of the sanitizer build, run without a stack.
unit: deps
	$(ASAN_MAKE) unit-build
	python3 tests/run.py --unit-only --unit build/asan/tests

tsan: deps
	$(TSAN_MAKE) all unit-build
	python3 tests/run.py --sanitizer thread --bin build/tsan/bin --unit build/tsan/tests

# ---- fuzzing: libFuzzer (clang) with ASan and UBSan, an object tree of its own ----
# Every tests/fuzz/fuzz_<name>.c is one target, build/fuzz/fuzz_<name>; the library
# is compiled for it with -fsanitize=fuzzer-no-link so that libFuzzer sees its
# coverage. tests/fuzz/run.py runs each on a copy of its seed corpus.
FUZZ_CC      := clang
FUZZ_SAN     := address,undefined
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE $(WARN) -O1 -g -fsanitize=fuzzer-no-link,$(FUZZ_SAN) \
		-fno-sanitize-recover=all -fno-omit-frame-pointer $(INCLUDES) $(PKG_CFLAGS) -MMD -MP
FUZZ_BIN     := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 60

$(FUZZ_OBJ)/%.o: %.c | check-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_OBJ)/libchatsync.a: $(COMMON_SRC:%.c=$(FUZZ_OBJ)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_OBJ)/libchatsync-migrate.a: $(MIGRATE_SRC:%.c=$(FUZZ_OBJ)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

build/fuzz/fuzz_%: $(FUZZ_OBJ)/tests/fuzz/fuzz_%.o $(FUZZ_OBJ)/cli/devkeys.o $(FUZZ_OBJ)/libchatsync-migrate.a \
		   $(FUZZ_OBJ)/libchatsync.a
	$(FUZZ_CC) -fsanitize=fuzzer,$(FUZZ_SAN) -o $@ $^ $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: deps
	$(MAKE) --no-print-directory INSTALL_DEPS=0 fuzz-build
	python3 tests/fuzz/run.py --bin build/fuzz --seconds $(FUZZ_SECONDS)

# The long form of the faults test that `make test` runs short (tests/faults/).
faults: deps
	$(ASAN_MAKE) all
	python3 tests/faults/faults.py --long --bin build/asan/bin

RELEASE_MAKE = $(MAKE) --no-print-directory INSTALL_DEPS=0
run: deps
	$(RELEASE_MAKE) all
	bash deploy/stack.sh run
up: deps
	$(RELEASE_MAKE) all
	bash deploy/stack.sh up
down:
	bash deploy/stack.sh down
test-cluster: deps
	$(ASAN_MAKE) all
	python3 tests/cluster/run.py --bin build/asan/bin

bench: deps
	$(RELEASE_MAKE) all
	bash tests/bench/run.sh

# ---- style and static checks (docs/decisions/lint.md) ----
C_FILES = $(sort $(wildcard common/*.[ch] migrate/*.[ch] services/*/*.[ch] cli/*.[ch] \
	  tests/unit/*.[ch] tests/fuzz/*.[ch] tests/bench/*.c))

fmt: | check-deps
	clang-format -i $(C_FILES)
fmt-check: | check-deps
	clang-format --dry-run -Werror $(C_FILES)

# Made from make's own compile lines (-nB: printed, not run), so that the flags
# have one home; every C file once, with the release build's flags.
compile_commands.json: | check-deps
	$(RELEASE_MAKE) -nB all unit-build fuzz-build bench-build | python3 tools/compile_commands.py > $@.tmp
	@mv $@.tmp $@

# cppcheck and clang-tidy read each file's flags from the database (every C file
# the build compiles); -j2 keeps to the two cores this project is measured on.
# clang-tidy's log loses only its "N warnings generated." lines (system headers'
# warnings, never shown); a finding fails the target (.clang-tidy: WarningsAsErrors).
LINT_JOBS ?= 2
lint: compile_commands.json | check-deps
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --suppress=missingIncludeSystem --inline-suppr -j$(LINT_JOBS) --project=compile_commands.json
	@mkdir -p $(BUILD)
	@echo "clang-tidy -quiet -p . (.clang-tidy) over $(words $(filter %.c,$(C_FILES))) files"
	@printf '%s\n' $(filter %.c,$(C_FILES)) | xargs -P $(LINT_JOBS) -n 4 clang-tidy -quiet -p . \
	  > $(BUILD)/clang-tidy.log 2>&1; rc=$$?; \
	  grep -v ' warnings\? generated\.$$' $(BUILD)/clang-tidy.log; \
	  [ $$rc -eq 0 ] || { echo "lint: clang-tidy found the above (docs/decisions/lint.md)"; exit 1; }

clean:
	rm -rf build bin

# Only this build tree's dependency files (and the fuzz tree's, which is always
# build/fuzz): another tree's name objects that are not this build's targets.
-include $(shell find $(OBJ) $(FUZZ_OBJ) -name '*.d' 2>/dev/null)
