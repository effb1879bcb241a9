#!/bin/sh
# Boots one lab host. Run as: unshare --uts --mount --propagation private -- host-init.sh NAME DIR
# Inside the new UTS + mount namespace (sharing the machine's network) it sets the
# hostname, bind-mounts the host's own directories and files (listed in DIR/mounts as
# "SOURCE TARGET" lines, SOURCE relative to DIR) over the system paths (its /etc/hosts
# names every lab host, so lab names resolve inside the host), records the
# namespace for `lab down`, starts the units listed in DIR/boot-units through the
# host's systemctl stand-in, and becomes the host's sshd (the process that keeps the
# namespace alive).
set -eu
name=$1
dir=$2
hostname "$name"
while read -r src dst; do
  [ -n "$src" ] || continue
  [ -e "$dst" ] || mkdir -p "$dst"
  mount --bind "$dir/$src" "$dst"
done < "$dir/mounts"
readlink /proc/self/ns/mnt > "$dir/mntns"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
cd /
if [ -s "$dir/boot-units" ]; then
  for unit in $(cat "$dir/boot-units"); do
    /usr/local/sbin/systemctl start "$unit" >> "$dir/boot.log" 2>&1 &
  done
fi
exec /usr/sbin/sshd -D -f "$dir/sshd_config" -E "$dir/sshd.log"
