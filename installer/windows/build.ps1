<#
.SYNOPSIS
    Builds the kiosk's Windows installer: dist\gea-kiosk-<version>-setup.exe.

.DESCRIPTION
    The Windows counterpart of `make bundle` and `make deb`, run from a checkout on 64-bit Windows
    10/11 with Python 3.11 and Inno Setup 6.3 or later:

        py -3.11 -m venv .venv
        .venv\Scripts\Activate.ps1
        pip install -c constraints.txt .[kiosk,bundle]
        powershell -ExecutionPolicy Bypass -File installer\windows\build.ps1

    1. freezes the kiosk into dist\gea-kiosk (installer\gea-kiosk.spec, as `make bundle` does),
    2. smoke-tests the frozen kiosk (installer\smoke_test.py: its --selftest, with no screen),
    3. compiles installer\windows\gea-kiosk.iss, passing the kiosk's version (kiosk.__version__,
       which Inno Setup cannot read itself) as /DAppVersion.

.PARAMETER SkipBundle
    Package the bundle already in dist\gea-kiosk instead of building it again.

.PARAMETER Python
    The Python that has the kiosk and PyInstaller (default: python, e.g. the activated venv's).

.PARAMETER Iscc
    Inno Setup's compiler (default: iscc on PATH, else where Inno Setup 6 installs itself).
#>
[CmdletBinding()]
param(
    [switch] $SkipBundle,
    [string] $Python = 'python',
    [string] $Iscc = ''
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

# A native program's failure does not stop PowerShell 5.1 by itself.
function Invoke-Step([string] $What, [scriptblock] $Command) {
    Write-Host "== $What"
    & $Command
    if ($LASTEXITCODE -ne 0) {
        throw "$What failed (exit code $LASTEXITCODE)"
    }
}

function Find-Iscc {
    if ($Iscc) {
        return $Iscc
    }
    $onPath = Get-Command iscc.exe -ErrorAction SilentlyContinue
    if ($onPath) {
        return $onPath.Source
    }
    $candidates = @(
        (Join-Path ${env:ProgramFiles(x86)} 'Inno Setup 6\ISCC.exe'),
        (Join-Path $env:ProgramFiles 'Inno Setup 6\ISCC.exe'),
        (Join-Path $env:LOCALAPPDATA 'Programs\Inno Setup 6\ISCC.exe')  # winget's per-user install
    )
    foreach ($candidate in $candidates) {
        if (Test-Path -LiteralPath $candidate) {
            return $candidate
        }
    }
    throw 'Inno Setup 6 (ISCC.exe) was not found: install it (https://jrsoftware.org/isinfo.php, or winget install JRSoftware.InnoSetup), or pass -Iscc C:\path\to\ISCC.exe'
}

$repo = Resolve-Path (Join-Path $PSScriptRoot '..\..')
Push-Location $repo
try {
    # The one version of the kiosk (kiosk/__init__.py), as the spec and build_deb.py read it.
    $version = (& $Python -c 'import kiosk; print(kiosk.__version__)' | Out-String).Trim()
    if ($LASTEXITCODE -ne 0 -or -not $version) {
        throw "Could not read kiosk.__version__ with ${Python}: is this the kiosk's virtual environment?"
    }
    Write-Host "GEA kiosk $version"

    if (-not $SkipBundle) {
        Invoke-Step 'PyInstaller bundle' {
            & $Python -m PyInstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build\pyinstaller installer\gea-kiosk.spec
        }
        Invoke-Step 'Smoke test' { & $Python installer\smoke_test.py dist\gea-kiosk\gea-kiosk.exe }
    }

    $compiler = Find-Iscc
    Invoke-Step 'Inno Setup' { & $compiler "/DAppVersion=$version" installer\windows\gea-kiosk.iss }

    $setup = Join-Path $repo "dist\gea-kiosk-$version-setup.exe"
    if (-not (Test-Path -LiteralPath $setup)) {
        throw "Inno Setup finished but $setup is not there"
    }
    Write-Output $setup
} finally {
    Pop-Location
}
