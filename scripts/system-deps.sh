#!/usr/bin/env bash
# Installs the Debian packages the integration tests run for real:
# Java and Maven (the Kafka broker), PostgreSQL and Prometheus (with promtool),
# the lab's hosts: iproute2, OpenSSH's sshd, rsync, sudo (a login user that is not
# root becomes root with it; openssl hashes its password when sudo asks one) and
# BIND 9 (govmig lab), and
# kcat, a librdkafka producer on its default (CRC32) partitioner, for the ordering test.
# Skips what is already there, so a warm machine pays nothing.
set -euo pipefail
need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
[ -n "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null)" ] || need+=(postgresql)
{ command -v prometheus && command -v promtool; } >/dev/null || need+=(prometheus)
command -v ip >/dev/null || need+=(iproute2)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v rsync >/dev/null || need+=(rsync)
[ -x /usr/bin/sudo ] || need+=(sudo)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/sbin/named ] || need+=(bind9)
command -v tsig-keygen >/dev/null || need+=(bind9-utils)
command -v dig >/dev/null || need+=(bind9-dnsutils)
command -v kcat >/dev/null || need+=(kcat)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${need[*]}; run: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts the packaged services; the tests run their own throwaway ones.
for svc in prometheus postgresql named ssh; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
