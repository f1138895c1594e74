# Thin wrapper around meson; the real build is meson.build.
.PHONY: all deps build check run clean format
all: build
deps:
	scripts/deps.sh
build:
	@[ -f build/build.ninja ] || meson setup build
	ninja -C build
check:
	scripts/test.sh
run:
	scripts/quickstart.sh
format:
	git ls-files '*.c' '*.h' | xargs clang-format -i
clean:
	rm -rf build build-test
