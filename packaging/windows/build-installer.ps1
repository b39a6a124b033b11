# Builds Confer's Windows installer into target\windows\: a release build, the icon rendered by
# packaging\icons, then NSIS (makensis on PATH; GitHub's Windows runners have it, elsewhere
# `choco install nsis`). x86-64 builds need nasm on PATH for OpenH264's assembly (build.rs).
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")

$version = (Select-String -Path Cargo.toml -Pattern '^version = "(.*)"' | Select-Object -First 1).Matches[0].Groups[1].Value
$env:CARGO_TARGET_DIR = Join-Path (Get-Location) "target"

cargo build --release --locked
if ($LASTEXITCODE -ne 0) { throw "cargo build failed" }
cargo run --quiet --release --locked --manifest-path packaging\icons\Cargo.toml -- assets\confer.svg target\icons
if ($LASTEXITCODE -ne 0) { throw "rendering the icons failed" }

New-Item -ItemType Directory -Force target\windows | Out-Null
$out = Join-Path (Get-Location) "target\windows\Confer-$version-setup.exe"
makensis /V2 "/DVERSION=$version" "/DBINARY=$(Resolve-Path target\release\confer.exe)" `
    "/DICON=$(Resolve-Path target\icons\confer.ico)" "/DOUTFILE=$out" packaging\windows\confer.nsi
if ($LASTEXITCODE -ne 0) { throw "makensis failed" }
Write-Output $out
