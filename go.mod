module github.com/wharf-registry/wharf

go 1.26.8
