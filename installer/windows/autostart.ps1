<#
.SYNOPSIS
    Starts the GEA kiosk when its Windows account signs in, or stops doing so.

.DESCRIPTION
    Setup (gea-kiosk.iss) runs this with its /KIOSKUSER and /AUTOSTART parameters, and again with
    -Remove when the kiosk is uninstalled or the choice changes. IT can run it by hand, as
    administrator, from C:\Program Files\GEA Kiosk\tools. Two ways, by edition of Windows:

    Startup        Windows 10/11 Pro. A shortcut to gea-kiosk.exe in the account's own Startup
                   folder: with automatic sign-in (Sysinternals Autologon) the kiosk is on screen
                   after power-on. The account must have signed in once (Windows makes its Startup
                   folder then). Nothing restarts a kiosk that stopped until the next sign-in.
    ShellLauncher  Enterprise, Education, IoT Enterprise. Shell Launcher v2 runs the kiosk instead
                   of Explorer for that account alone: no taskbar, no Start menu, and a kiosk that
                   exits or crashes is started again at once. Every other account (IT's) keeps
                   Explorer. Windows takes this setting (the ShellLauncher node of the
                   AssignedAccess CSP, through the MDM bridge) from SYSTEM only: run it from a
                   deployment tool, or with Sysinternals PsExec (psexec.exe -i -s). It replaces
                   any other Shell Launcher configuration of this computer.

    Exit codes: 0 done; 1 failed (the message says why); 3 the account has no profile yet (it has
    never signed in); 4 Shell Launcher needs SYSTEM.

.EXAMPLE
    powershell -ExecutionPolicy Bypass -File autostart.ps1 -User kiosk -Mode Startup

.EXAMPLE
    psexec.exe -i -s powershell.exe -ExecutionPolicy Bypass -File "C:\Program Files\GEA Kiosk\tools\autostart.ps1" -User kiosk -Mode ShellLauncher

.EXAMPLE
    powershell -ExecutionPolicy Bypass -File autostart.ps1 -User kiosk -Mode Startup -Remove
#>
[CmdletBinding()]
param(
    # The local (or domain) account the kiosk runs as.
    [Parameter(Mandatory = $true)] [string] $User,
    [Parameter(Mandatory = $true)] [ValidateSet('Startup', 'ShellLauncher')] [string] $Mode,
    # Undo instead: remove the shortcut, or the Shell Launcher configuration.
    [switch] $Remove
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

# The kiosk this script was installed with: tools\ sits beside gea-kiosk.exe.
$Kiosk = Join-Path (Split-Path -Parent $PSScriptRoot) 'gea-kiosk.exe'
$ShortcutName = 'GEA Feedback Kiosk.lnk'
# Ties the Shell Launcher Config to its Profile; any fixed GUID does.
$ProfileId = '{51B6E567-7CF1-4BEA-98B7-A2E5379434FC}'
$ExitNoProfile = 3
$ExitNeedsSystem = 4

function Get-AccountSid([string] $Name) {
    try {
        $account = New-Object System.Security.Principal.NTAccount($Name)
        return $account.Translate([System.Security.Principal.SecurityIdentifier]).Value
    } catch {
        throw "There is no account '$Name' on this computer: create it first (a standard local user)."
    }
}

# The account's Startup folder, or $null when the account has never signed in (no profile).
function Get-StartupFolder([string] $Sid) {
    $userProfile = Get-CimInstance -ClassName Win32_UserProfile -Filter "SID = '$Sid'"
    if ($null -eq $userProfile) {
        return $null
    }
    return Join-Path $userProfile.LocalPath 'AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup'
}

function Set-StartupShortcut([string] $Folder) {
    New-Item -ItemType Directory -Path $Folder -Force | Out-Null
    $shell = New-Object -ComObject WScript.Shell
    $link = $shell.CreateShortcut((Join-Path $Folder $ShortcutName))
    $link.TargetPath = $Kiosk
    $link.WorkingDirectory = Split-Path -Parent $Kiosk
    $link.Description = 'GEA feedback kiosk, full screen'
    $link.Save()
    Write-Output "The kiosk starts when $User signs in: $(Join-Path $Folder $ShortcutName)"
}

function Test-System {
    return [System.Security.Principal.WindowsIdentity]::GetCurrent().User.Value -eq 'S-1-5-18'
}

# The AssignedAccess CSP as the MDM bridge shows it; its ShellLauncher node is Shell Launcher v2.
function Get-AssignedAccess {
    return Get-CimInstance -Namespace 'root\cimv2\mdm\dmmap' -ClassName 'MDM_AssignedAccess'
}

function Set-ShellLauncher {
    $account = [System.Security.SecurityElement]::Escape($User)
    $shell = [System.Security.SecurityElement]::Escape($Kiosk)
    # Every other account keeps Explorer (the DefaultProfile). The kiosk account gets the kiosk,
    # full screen, started again whatever it exits with (as Restart=always on Linux). The path is
    # not quoted, as in Microsoft's own examples: Windows finds the program in a path with spaces.
    $xml = @"
<?xml version="1.0" encoding="utf-8"?>
<ShellLauncherConfiguration
    xmlns="http://schemas.microsoft.com/ShellLauncher/2018/Configuration"
    xmlns:V2="http://schemas.microsoft.com/ShellLauncher/2019/Configuration">
  <Profiles>
    <DefaultProfile>
      <Shell Shell="%SystemRoot%\explorer.exe"/>
    </DefaultProfile>
    <Profile Id="$ProfileId" Name="GEA feedback kiosk">
      <Shell Shell="$shell" V2:AppType="Desktop" V2:AllAppsFullScreen="true">
        <DefaultAction Action="RestartShell"/>
      </Shell>
    </Profile>
  </Profiles>
  <Configs>
    <Config>
      <Account Name="$account"/>
      <Profile Id="$ProfileId"/>
    </Config>
  </Configs>
</ShellLauncherConfiguration>
"@
    $bridge = Get-AssignedAccess
    $bridge.ShellLauncher = [System.Net.WebUtility]::HtmlEncode($xml)
    Set-CimInstance -CimInstance $bridge | Out-Null
    Write-Output "Shell Launcher starts the kiosk instead of Explorer when $User signs in (from the next sign-in)."
}

function Remove-ShellLauncher {
    $bridge = Get-AssignedAccess
    $bridge.ShellLauncher = $null
    Set-CimInstance -CimInstance $bridge | Out-Null
    Write-Output 'Shell Launcher is off: every account gets Explorer again (from the next sign-in).'
}

try {
    $sid = Get-AccountSid $User
    if ($Mode -eq 'Startup') {
        $folder = Get-StartupFolder $sid
        if ($Remove) {
            if ($null -ne $folder) {
                Remove-Item -LiteralPath (Join-Path $folder $ShortcutName) -Force -ErrorAction SilentlyContinue
            }
            Write-Output "The kiosk no longer starts when $User signs in."
        } elseif ($null -eq $folder) {
            Write-Output "$User has never signed in, so it has no Startup folder yet: sign in once as $User, then run this again."
            exit $ExitNoProfile
        } else {
            Set-StartupShortcut $folder
        }
    } else {
        if (-not (Test-System)) {
            Write-Output 'Shell Launcher is set through the MDM bridge, which answers SYSTEM only: run this from your deployment tool, or with psexec.exe -i -s powershell.exe ...'
            exit $ExitNeedsSystem
        }
        if ($Remove) {
            Remove-ShellLauncher
        } else {
            Set-ShellLauncher
        }
    }
    exit 0
} catch {
    Write-Output "Failed: $($_.Exception.Message)"
    exit 1
}
