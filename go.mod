module github.com/epmd-docker/epmd_docker

go 1.26

require (
	github.com/docker/docker v28.5.2+incompatible // indirect
	github.com/ergo-services/ergo v1.999.224 // indirect
	github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
)
