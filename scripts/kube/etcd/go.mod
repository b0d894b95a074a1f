module tcra.invalid/build-etcd

go 1.26
