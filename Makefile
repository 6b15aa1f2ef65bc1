# make demo: the demo against the embedded KMS stand-in.
# make test: every test of every module, with the race detector.

GO ?= go
MODULES := . examples/huaweisdk bench

.PHONY: demo test vet

demo:
	$(GO) run ./examples/demo

vet:
	@for m in $(MODULES); do \
		echo "== go vet $$m"; (cd $$m && $(GO) vet ./...) || exit 1; \
		test -z "$$(cd $$m && gofmt -l .)" || { (cd $$m && gofmt -l .); exit 1; }; \
	done

test: vet
	$(GO) test -race -count=1 ./...
	cd examples/huaweisdk && $(GO) test -race -count=1 ./...
	cd bench && $(GO) test -race -count=1 -bench . -benchtime 1x ./...
