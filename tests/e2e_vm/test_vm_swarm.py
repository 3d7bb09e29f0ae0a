"""3 VMs booted from cloud-cfg.txt: cloud-init done, a labelled Swarm, the join key
and API locked down, services placed by label, an encrypted overlay and VIP
load balancing carrying traffic between VMs."""

from __future__ import annotations

import re

import pytest

from stacklab.cluster.local import node_labels
from stacklab.vm import cluster
from tests.e2e_vm.conftest import manager_docker, vm_sh, wait_for

pytestmark = pytest.mark.vm
NET = "vmtest-enc"


def test_cloud_init_is_done_on_every_vm_without_warnings(vms):
    for index in range(1, len(vms["vms"]) + 1):
        status = vm_sh(index, "cloud-init status --long")
        assert re.search(r"^status: done$", status, re.M), status
        # a schema warning or a failed module would be a silently skipped step
        log = vm_sh(index, "grep -E 'WARNING|ERROR|Traceback' /var/log/cloud-init.log || true")
        assert not log.strip(), f"VM {index}: {log[:500]}"
        assert "stacklab node ready" in vm_sh(index, "cat /var/log/cloud-init-output.log")


def test_the_swarm_is_ready_and_labelled_seen_from_the_host(vms):
    fmt = "{{.Description.Hostname}} {{.Status.State}} {{json .Spec.Labels}}"
    ids = manager_docker(vms, "node", "ls", "-q").stdout.split()
    rows = manager_docker(vms, "node", "inspect", "--format", fmt, *ids).stdout.splitlines()
    seen = {line.split()[0]: line for line in rows}
    assert sorted(seen) == [vm["name"] for vm in vms["vms"]]
    for index, vm in enumerate(vms["vms"], 1):
        host, state, labels = seen[vm["name"]].split(" ", 2)
        assert state == "ready"
        assert all(f'"{k}":"{v}"' in labels for k, v in node_labels(index).items()), labels


def test_the_join_key_only_prints_the_current_token(vms):
    manager = vms["manager"]
    ssh = (f"ssh -i /root/.ssh/swarm_join -o BatchMode=yes -o ConnectTimeout=20 root@{manager}")
    out = vm_sh(2, f"{ssh} 'id; cat /etc/shadow'")
    assert re.fullmatch(r"SWMTKN-\S+\n", out), out  # the forced command, not ours
    current = vm_sh(1, "docker swarm join-token -q worker").strip()
    assert out.strip() == current
    # `vm up` rotated the token after the last join: the one the workers used is dead
    assert vms["token_rotated"] is True


def test_the_docker_api_answers_the_host_only(vms):
    assert manager_docker(vms, "info", "--format", "{{.Swarm.ControlAvailable}}").stdout.strip() == "true"
    # from a worker VM: 2375 is dropped, the Swarm port is open
    code = vm_sh(3, f"busybox nc -w 5 {vms['manager']} 2375 </dev/null; echo $?").strip()
    assert code.splitlines()[-1] != "0"
    assert vm_sh(3, f"busybox nc -w 5 {vms['manager']} 2377 </dev/null; echo $?").strip()[-1] == "0"


def test_every_daemon_trusts_the_swarms_registry_on_the_subnet(vms):
    """daemon.json from node.env's INSECURE_REGISTRIES: nodes pull from <manager>:5000."""
    for index in range(1, len(vms["vms"]) + 1):
        cidrs = vm_sh(index, "docker info --format '{{json .RegistryConfig.InsecureRegistryCIDRs}}'")
        assert vms["subnet"] in cidrs, cidrs


@pytest.fixture(scope="module")
def services(vms, probe):
    """create(name, *args): an HTTP service on the encrypted overlay answering with its
    node's hostname; a client task on VM 3 (role=clients) to send requests from."""
    manager_docker(vms, "network", "create", "-d", "overlay", "--opt", "encrypted", NET)
    made: list[str] = []

    def create(name: str, *args: str, command: str = HTTPD) -> None:
        manager_docker(vms, "service", "create", "-d", "--name", name, "--network", NET,
                       "--hostname", "{{.Node.Hostname}}", *args, probe, "sh", "-c", command)
        made.append(name)

    create("vmtest-client", "--constraint", "node.labels.role==clients", command="sleep 86400")
    wait_for("client running", lambda: _running_on(vms, "vmtest-client"), 600)
    yield create
    for name in made:
        manager_docker(vms, "service", "rm", name, check=False)
    wait_for("overlay free", lambda: manager_docker(
        vms, "network", "rm", NET, check=False).returncode == 0, timeout=180)


HTTPD = "hostname > /www/index.html; exec httpd -f -p 8080 -h /www"


def _running_on(vms, service: str) -> list[str]:
    out = manager_docker(vms, "service", "ps", "--filter", "desired-state=running",
                         "--format", "{{.Node}} {{.CurrentState}}", service).stdout
    return sorted(line.split()[0] for line in out.splitlines() if " Running " in f" {line} ")


def _fetch(name: str, times: int = 1) -> list[str]:
    """GET / `times` times from the client task on VM 3, by the service's DNS name
    (its VIP, or its task's address with dnsrr); the answers (node hostnames)."""
    script = (f"ip=$(nslookup {name} | awk '/^Address: /{{print $2}}' | tail -n 1); "
              f"for i in $(seq {times}); do printf 'GET / HTTP/1.0\\r\\n\\r\\n' "
              "| nc -w 10 $ip 8080 | tail -n 1; done")
    code, out, err = cluster.vm_exec(3, ["sh", "-c", 'docker exec "$(docker ps -q -f '
                                         'name=vmtest-client)" sh -c "$0"', script], timeout=300)
    return out.split() if code == 0 else []


def _esp_packets(index: int) -> int:
    """Packets counted by the IPsec SAs of VM `index` (ESP of the encrypted overlay)."""
    text = vm_sh(index, "ip -s xfrm state")
    return sum(int(n) for n in re.findall(r"(\d+)\(packets\)", text))


def test_a_service_is_placed_by_label_and_encrypted_traffic_crosses_vms(vms, services):
    services("vmtest-echo", "--constraint", "node.labels.role==combiner", "--endpoint-mode", "dnsrr")
    assert wait_for("echo running", lambda: _running_on(vms, "vmtest-echo"), 600) == ["stacklab-vm2"]
    # first contact: the overlay's IPsec SAs come up on demand
    wait_for("echo reachable from VM 3", lambda: _fetch("vmtest-echo"), 300, 10)
    assert "proto esp" in vm_sh(2, "ip xfrm state")
    before = _esp_packets(2)
    assert _fetch("vmtest-echo", times=5) == ["stacklab-vm2"] * 5
    assert _esp_packets(2) > before  # the requests went through ESP, i.e. encrypted


def test_vip_spreads_requests_over_tasks_on_three_vms(vms, services):
    services("vmtest-web", "--replicas", "3", "--replicas-max-per-node", "1")
    names = [vm["name"] for vm in vms["vms"]]
    wait_for("3 tasks on 3 VMs", lambda: _running_on(vms, "vmtest-web") == names, 600)
    wait_for("VIP reachable", lambda: _fetch("vmtest-web"), 300, 10)
    vip = manager_docker(vms, "service", "inspect", "--format",
                         "{{range .Endpoint.VirtualIPs}}{{.Addr}} {{end}}", "vmtest-web").stdout
    assert vip.strip(), "no virtual IP: endpoint mode is not vip"
    answers = _fetch("vmtest-web", times=9)
    assert sorted(set(answers)) == names, answers
    assert min(answers.count(n) for n in names) >= 2, answers  # spread, not all on one


def test_a_worker_vm_reset_rejoins_the_swarm(vms):
    """Hard reset of VM 3 (no clean shutdown, like a power cut): the manager sees it
    down, and it comes back Ready by itself (dockerd starts with its Swarm state;
    cloud-init does not run its per-instance steps again)."""
    def state_of_vm3() -> str:
        out = manager_docker(vms, "node", "inspect", "--format", "{{.Status.State}}",
                             "stacklab-vm3", check=False).stdout
        return out.strip()

    boot_id = vm_sh(3, "cat /proc/sys/kernel/random/boot_id").strip()
    cluster.vm_exec(3, ["sh", "-c", "(sleep 2; echo b > /proc/sysrq-trigger) >/dev/null 2>&1 &"])
    wait_for("VM 3 seen down", lambda: state_of_vm3() == "down", 300)
    wait_for("VM 3 Ready again", lambda: state_of_vm3() == "ready", 900, 10)
    assert vm_sh(3, "cat /proc/sys/kernel/random/boot_id").strip() != boot_id  # it did reboot
    assert "stacklab node ready" in vm_sh(3, "cat /var/log/cloud-init-output.log")
    assert vm_sh(3, "grep -c 'joined the swarm' /var/log/cloud-init-output.log").strip() == "1"
