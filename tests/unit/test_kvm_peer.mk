UNIT_SRCS_test_kvm_peer := bench/kvm/peer.c
