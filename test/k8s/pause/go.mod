module epmd-docker-k8s/pause

go 1.24
