module irc.local/go-oracle

go 1.26.0

require (
	github.com/Masterminds/semver/v3 v3.5.0
	github.com/distribution/reference v0.6.0
	github.com/fluxcd/pkg/version v0.17.0
)

require github.com/opencontainers/go-digest v1.0.0 // indirect
