#!/usr/bin/env bash
# scripts/netboot.sh [DIR] — what `make netboot` runs.
#
# Copies the boot binaries pxe-edge hands out from installed Debian packages into DIR
# (default: netboot/ beside this script). They are never committed (netboot/.gitignore).
#
#   ipxe             undionly.kpxe, undionly.kkpxe, ipxe.pxe, ipxe.efi, snponly.efi
#   pxelinux         pxelinux.0, lpxelinux.0
#   syslinux-common  ldlinux.c32, the menu/chain modules pxelinux.cfg menus need, and memdisk
#
# arm64 iPXE (ipxe-arm64.efi, for arch 11/19 clients): Debian bookworm ships none; the
# `ipxe` package is Architecture: all and x86-only. The script copies one when a source
# exists — $IPXE_ARM64_EFI, or /usr/lib/ipxe/ipxe-arm64.efi from a future ipxe package — and
# otherwise warns and leaves any ipxe-arm64.efi already in DIR alone.
#
# arm64 GRUB (grubnetaa64.efi, a netboot image that reads grub/grub.cfg from the server): the
# usable arm64 UEFI boot file on Debian. Copied, when asked for, from the first of
#   $GRUB_ARM64_EFI    a grubnetaa64.efi
#   $GRUB_ARM64_DEB    a grub-efi-arm64-bin_*_arm64.deb (unpacked with dpkg -x)
#   NETBOOT_FETCH_GRUB_ARM64=1   `apt-get download grub-efi-arm64-bin:arm64` into a scratch
#                      directory (needs `dpkg --add-architecture arm64 && apt-get update` once;
#                      on an arm64 machine the native package works too)
#   /usr/lib/grub/arm64-efi/monolithic/grubnetaa64.efi   (grub-efi-arm64-bin installed natively)
# Give arm64 clients GRUB with `--boot-map` {"11": "grubnetaa64.efi", "19": "grubnetaa64.efi"}.
#
# Secure Boot chain (for machines marked Secure Boot: --secure-boot, a static-config
# "secureboot": true): the Microsoft-signed shim and, beside it under the name shim loads, the
# Debian-signed GRUB network image, whose built-in prefix is /grub (it reads grub/grub.cfg):
#   shimx64.efi  + grubx64.efi    shim-signed + grub-efi-amd64-signed (x86_64)
#   shimaa64.efi + grubaa64.efi   shim-signed + grub-efi-arm64-signed (arm64)
# Each pair comes from scripts/fetch-shim.sh's cache ($PXE_EDGE_CACHE/shim-ARCH) when it exists
# or NETBOOT_FETCH_SHIM=1 (downloaded once: shim from this release, GRUB 2.12 from trixie,
# which unlike bookworm's 2.06 also reads grub.cfg under UEFI HTTP boot), else from the
# installed packages when this machine's architecture has them. Without a source the pair is
# skipped with a warning, and Secure Boot machines of that architecture get "file not found".
#
# Idempotent: files already identical are left untouched (no write to the SD card), others
# are replaced atomically. Prints one line per file. Exits 1 naming the package to install
# when a required file is missing. A manifest (.netboot-manifest) records name, size,
# sha256 and the package version of each copied file.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dest=${1:-$here/../netboot}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

missing_pkgs=()
missing_files=()
copied=0
same=0
manifest=()

# NETBOOT_SYSROOT prefixes every source path (tests use it to simulate missing packages).
sys=${NETBOOT_SYSROOT:-}

# Package versions, looked up once (pkgver runs in command substitutions, which cannot fill
# a cache).
declare -A vers=()
for p in ipxe pxelinux syslinux-common; do
	vers[$p]=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo "-")
done
pkgver() { echo "${vers[$1]:--}"; }

# put PACKAGE SOURCE [NAME] — copy SOURCE into $dest/NAME (default: basename of SOURCE).
put() {
	local pkg=$1 src=$2 name=${3:-$(basename "$2")}
	if [[ ! -f $src ]]; then
		[[ " ${missing_pkgs[*]} " == *" $pkg "* ]] || missing_pkgs+=("$pkg")
		missing_files+=("$src")
		return
	fi
	local dst=$dest/$name
	if [[ -f $dst ]] && cmp -s "$src" "$dst"; then
		printf '  same    %-16s %s (%s %s)\n' "$name" "$src" "$pkg" "$(pkgver "$pkg")"
		same=$((same + 1))
	else
		install -m 0644 "$src" "$dst.tmp.$$"
		mv -f "$dst.tmp.$$" "$dst"
		printf '  copied  %-16s %s (%s %s)\n' "$name" "$src" "$pkg" "$(pkgver "$pkg")"
		copied=$((copied + 1))
	fi
	manifest+=("$(printf '%s\t%s\t%s\t%s %s' "$name" "$(stat -c %s "$dst")" "$(sha256sum "$dst" | cut -d' ' -f1)" "$pkg" "$(pkgver "$pkg")")")
}

echo "netboot: copying boot binaries into $dest"

for f in undionly.kpxe undionly.kkpxe ipxe.pxe ipxe.efi snponly.efi; do
	put ipxe "$sys/usr/lib/ipxe/$f"
done
for f in pxelinux.0 lpxelinux.0; do
	put pxelinux "$sys/usr/lib/PXELINUX/$f"
done
for f in ldlinux.c32 libcom32.c32 libutil.c32 menu.c32 vesamenu.c32 chain.c32 pxechn.c32 reboot.c32 poweroff.c32; do
	put syslinux-common "$sys/usr/lib/syslinux/modules/bios/$f"
done
# memdisk: the generated menus boot small BIOS ISOs from images/ through it (PyPXE's workflow).
put syslinux-common "$sys/usr/lib/syslinux/memdisk"

# arm64 iPXE: optional, see the header.
arm64_src=${IPXE_ARM64_EFI:-}
arm64_pkg=IPXE_ARM64_EFI
if [[ -z $arm64_src && -f $sys/usr/lib/ipxe/ipxe-arm64.efi ]]; then
	arm64_src=$sys/usr/lib/ipxe/ipxe-arm64.efi
	arm64_pkg=ipxe
fi
if [[ -n $arm64_src ]]; then
	if [[ -f $arm64_src ]]; then
		put "$arm64_pkg" "$arm64_src" ipxe-arm64.efi
	else
		echo "netboot: IPXE_ARM64_EFI=$arm64_src does not exist" >&2
		exit 1
	fi
elif [[ -f $dest/ipxe-arm64.efi ]]; then
	printf '  kept    %-16s (already in %s; no Debian source for it here)\n' ipxe-arm64.efi "$dest"
else
	echo "netboot: warning: no arm64 iPXE EFI: Debian's ipxe $(pkgver ipxe) is x86-only and no other" >&2
	echo "netboot:          package here ships one; arm64 UEFI clients (arch 11/19) will get 'file not found'" >&2
	echo "netboot:          for ipxe-arm64.efi. Set IPXE_ARM64_EFI=/path/to/snp.efi to copy one in." >&2
fi

# arm64 GRUB: optional, see the header.
grub_src=${GRUB_ARM64_EFI:-}
grub_pkg=GRUB_ARM64_EFI
grub_tmp=
if [[ -z $grub_src && ( -n ${GRUB_ARM64_DEB:-} || ${NETBOOT_FETCH_GRUB_ARM64:-} == 1 ) ]]; then
	grub_tmp=$(mktemp -d)
	trap 'rm -rf "$grub_tmp"' EXIT
	deb=${GRUB_ARM64_DEB:-}
	if [[ -z $deb ]]; then
		# apt's download user (_apt) must be able to write there, or apt warns.
		chmod 0777 "$grub_tmp"
		if ! (cd "$grub_tmp" && apt-get download grub-efi-arm64-bin:arm64 >&2); then
			echo "netboot: could not download grub-efi-arm64-bin:arm64; run once:" >&2
			echo "netboot:   dpkg --add-architecture arm64 && apt-get update" >&2
			exit 1
		fi
		deb=$(ls "$grub_tmp"/grub-efi-arm64-bin_*.deb)
	fi
	if [[ ! -f $deb ]]; then
		echo "netboot: GRUB_ARM64_DEB=$deb does not exist" >&2
		exit 1
	fi
	dpkg -x "$deb" "$grub_tmp/x"
	grub_src=$grub_tmp/x/usr/lib/grub/arm64-efi/monolithic/grubnetaa64.efi
	grub_pkg=grub-efi-arm64-bin
	vers[$grub_pkg]="$(dpkg-deb -f "$deb" Version) (arm64 .deb)"
elif [[ -z $grub_src && -f $sys/usr/lib/grub/arm64-efi/monolithic/grubnetaa64.efi ]]; then
	grub_src=$sys/usr/lib/grub/arm64-efi/monolithic/grubnetaa64.efi
	grub_pkg=grub-efi-arm64-bin
	vers[$grub_pkg]=$(dpkg-query -W -f='${Version}' grub-efi-arm64-bin 2>/dev/null || echo "-")
fi
if [[ -n $grub_src ]]; then
	if [[ -f $grub_src ]]; then
		put "$grub_pkg" "$grub_src" grubnetaa64.efi
	else
		echo "netboot: arm64 GRUB image $grub_src does not exist" >&2
		exit 1
	fi
fi

# Secure Boot chain: optional per architecture, see the header.
signed_chain() {
	local efi=$1 debarch=$2 grubdir=$3 src_shim src_grub shim_pkg=shim-signed grub_pkg=grub-efi-$2-signed
	local cache=${PXE_EDGE_CACHE:-/var/cache/pxe-edge}/shim-$debarch dir=
	if [[ -s $cache/shim$efi.efi.signed || ${NETBOOT_FETCH_SHIM:-} == 1 ]]; then
		dir=$("$here/fetch-shim.sh" "$debarch") || exit 1
		src_shim=$dir/shim$efi.efi.signed
		src_grub=$dir/grubnet$efi.efi.signed
		shim_pkg="shim-signed:$debarch" grub_pkg="$grub_pkg:$debarch"
		vers[$shim_pkg]="$(awk -F'\t' '$1 == "shim-signed" {print $2}' "$dir/SOURCE") (cache)"
		vers[$grub_pkg]="$(awk -F'\t' -v p="grub-efi-$debarch-signed" '$1 == p {print $2}' "$dir/SOURCE") (cache)"
	else
		src_shim=$sys/usr/lib/shim/shim$efi.efi.signed
		src_grub=$sys/usr/lib/grub/$grubdir/grubnet$efi.efi.signed
		if [[ ! -f $src_shim || ! -f $src_grub ]]; then
			echo "netboot: warning: no signed shim/GRUB for $debarch (install shim-signed and $grub_pkg, or run" >&2
			echo "netboot:          with NETBOOT_FETCH_SHIM=1); Secure Boot $debarch machines will get 'file not found'" >&2
			return
		fi
		vers[$shim_pkg]=$(dpkg-query -W -f='${Version}' "$shim_pkg" 2>/dev/null || echo "-")
		vers[$grub_pkg]=$(dpkg-query -W -f='${Version}' "$grub_pkg" 2>/dev/null || echo "-")
	fi
	put "$shim_pkg" "$src_shim" "shim$efi.efi"
	put "$grub_pkg" "$src_grub" "grub$efi.efi"
	if [[ ${vers[$grub_pkg]} == *2.06* ]]; then
		echo "netboot: note: grub$efi.efi is GRUB 2.06, which has no http module: Secure Boot machines booting" >&2
		echo "netboot:       by UEFI HTTP boot stop at its prompt (PXE works). NETBOOT_FETCH_SHIM=1 fetches trixie's 2.12." >&2
	fi
}
signed_chain x64 amd64 x86_64-efi-signed
signed_chain aa64 arm64 arm64-efi-signed

if ((${#missing_pkgs[@]})); then
	echo "netboot: missing: ${missing_files[*]}" >&2
	echo "netboot: install the Debian package(s): apt-get install ${missing_pkgs[*]}" >&2
	exit 1
fi

# The manifest changes only when a file does, to keep writes to the card rare.
tmp=$(mktemp "$dest/.netboot-manifest.XXXXXX")
printf '%s\n' "# name	size	sha256	package version (written by scripts/netboot.sh)" "${manifest[@]}" >"$tmp"
if [[ -f $dest/.netboot-manifest ]] && cmp -s "$tmp" "$dest/.netboot-manifest"; then
	rm -f "$tmp"
else
	chmod 0644 "$tmp"
	mv -f "$tmp" "$dest/.netboot-manifest"
fi
echo "netboot: $copied copied, $same already up to date"
