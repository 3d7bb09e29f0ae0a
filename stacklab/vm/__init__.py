"""Real VMs on this machine: `stacklab vm up|status|exec|down`.

image    a Debian VM disk built offline with debootstrap (cached by its inputs)
seed     cloud-cfg.txt rendered per node -> NoCloud seed ISO (+ the kit)
network  a private network namespace: bridge, one tap per VM, a host-side veth
machine  QEMU lifecycle (KVM where it boots, TCG otherwise), the state file
agent    commands inside a VM through qemu-guest-agent (no SSH needed)
"""
