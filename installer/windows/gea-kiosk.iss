; GEA feedback kiosk: the Windows installer (Inno Setup 6.3 or later) of the one-folder bundle
; that installer/gea-kiosk.spec builds (dist\gea-kiosk\gea-kiosk.exe beside _internal\). It is
; the Windows twin of the Debian package (installer/linux/build_deb.py), and
; tests/unit/test_windows_installer.py checks that the two name the same files, settings and
; version. Build it on Windows with build.ps1 beside this file, or by hand:
;
;     iscc /DAppVersion=0.1.0 installer\windows\gea-kiosk.iss   ->  dist\gea-kiosk-0.1.0-setup.exe
;
; What goes where (the Debian package's place in brackets):
;   {autopf}\GEA Kiosk\                   the bundle as built, read-only to the kiosk   [/opt/gea-kiosk]
;   {commonappdata}\GEA\Kiosk\kiosk.toml  IT's settings: installed once, then never replaced
;                                         nor removed, as a conffile                  [/etc/gea-kiosk/kiosk.toml]
;   {commonappdata}\GEA\Kiosk\enroll.toml enrollment without a keyboard: used once, then
;                                         deleted by the kiosk                        [/etc/gea-kiosk/enroll.toml]
;   {commonappdata}\GEA\Kiosk\data\       the queue, the device token, logs\, receipts:
;                                         the kiosk account's alone                   [/var/lib/gea-kiosk, 0700]
;   GEA_KIOSK_DATA_DIR, GEA_KIOSK_CONFIG  machine-wide, so the kiosk and every command IT
;                                         runs find those                             [the /usr/bin/gea-kiosk wrapper]
; ({autopf} is C:\Program Files, {commonappdata} C:\ProgramData.)
;
; Command line (every parameter is optional; an upgrade reuses the last install's account and
; autostart when they are left out):
;   /KIOSKUSER=name      the local account the kiosk runs as: its data folder is given to that
;                        account alone, and the autostart is set up for it. Without it (a trial,
;                        a desk test), any account that signs in may run the kiosk.
;   /AUTOSTART=startup   a shortcut in that account's Startup folder (Windows Pro; the default)
;   /AUTOSTART=shelllauncher  Shell Launcher v2: the kiosk instead of Explorer for that account
;                        (Enterprise, Education, IoT Enterprise; Setup must then run as SYSTEM)
;   /AUTOSTART=none      nothing starts it
;   /SERVER=URL /CODE=CODE [/PINHASH=HASH]  writes enroll.toml and enrolls the kiosk with it once
;                        installed (an enroll.toml IT dropped before is used the same way)
; and the usual /VERYSILENT /SUPPRESSMSGBOXES /NORESTART /LOG=file. The uninstaller takes /PURGE
; (delete the data and settings too; asked when it runs interactively, kept when silent).
; Setup exits with 10 when it installed but left something for IT to finish (enrollment,
; permissions or autostart): the reasons are in its log.

; ---- Names shared with the kiosk and the Linux package ------------------------------------------

#define AppName "GEA Feedback Kiosk"
; The version: build.ps1 passes the kiosk's own (/DAppVersion=...); this default is what a bare
; `iscc gea-kiosk.iss` uses, and the unit test keeps it equal to kiosk.__version__.
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
; The bundle, as installer/gea-kiosk.spec names it (COLLECT and EXE: name="gea-kiosk").
#define BundleDir "..\..\dist\gea-kiosk"
#define ExeName "gea-kiosk.exe"
; kiosk/paths.py: the variables that point the kiosk at its data and IT's settings.
#define DataDirEnv "GEA_KIOSK_DATA_DIR"
#define ConfigEnv "GEA_KIOSK_CONFIG"
#define ConfigName "kiosk.toml"
#define EnrollName "enroll.toml"
#define ConfigRoot "{commonappdata}\GEA"
#define ConfigDir "{commonappdata}\GEA\Kiosk"
#define DataDir "{commonappdata}\GEA\Kiosk\data"
; Where Setup remembers the account and autostart, for upgrades and the uninstaller.
#define StateKey "Software\GEA\Kiosk"

#if VER < EncodeVer(6,3,0)
  #error Inno Setup 6.3 or later is needed (x64compatible, ExecAndLogOutput)
#endif
#if !FileExists(SourcePath + BundleDir + "\" + ExeName)
  #error There is no bundle at dist\gea-kiosk: build it first (build.ps1, or pyinstaller installer\gea-kiosk.spec)
#endif
; The bundle says its version (the spec writes it into gea-kiosk.exe): an installer must not
; call an older or newer bundle by another version's name.
#if GetStringFileInfo(SourcePath + BundleDir + "\" + ExeName, "ProductVersion") != AppVersion
  #error dist\gea-kiosk\gea-kiosk.exe is not the version being packaged (AppVersion): rebuild the bundle from this checkout, or pass /DAppVersion=<the kiosk's version>
#endif

[Setup]
; Fixed for ever: it is how Setup finds the installed kiosk to upgrade in place.
AppId={{CE3AEE0F-8739-4363-9E13-587B18C36320}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=GEA
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\GEA Kiosk
DisableProgramGroupPage=yes
UninstallDisplayIcon={app}\{#ExeName}
; Per machine: the kiosk account is not the one installing it.
PrivilegesRequired=admin
; The bundle is 64-bit (PyInstaller freezes the Python that built it) and Windows 10 or 11.
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\..\dist
OutputBaseFilename=gea-kiosk-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
; The machine-wide variables reach new processes without a restart.
ChangesEnvironment=yes
; An upgrade stops a running kiosk first (PrepareToInstall below); the Restart Manager closes
; anything else that holds the bundle's files. The kiosk does not register with it for a restart:
; the computer's restart at the end brings it back.
CloseApplications=yes
RestartApplications=no
; Setup's log (%TEMP%\Setup Log <date> #<n>.txt of the account that ran it) holds what every
; step below printed: IT's first stop when something went wrong.
SetupLogging=yes
; The uninstaller logs to %TEMP% too, for what it could not undo.
UninstallLogging=yes

[Dirs]
; Kept by the uninstaller unless IT asks (/PURGE): they hold the unsent queue and IT's settings.
Name: "{#ConfigDir}"; Flags: uninsneveruninstall
Name: "{#DataDir}"; Flags: uninsneveruninstall

[InstallDelete]
; An upgrade replaces the bundle whole: a file the new build no longer has must not linger
; beside it (the Python and Qt libraries change names between releases).
Type: filesandordirs; Name: "{app}\_internal"

[Files]
; The bundle as built. A file still in use (Shell Launcher restarts the kiosk it was told to
; keep running) is replaced at the next restart instead of failing the upgrade.
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs restartreplace uninsrestartdelete
; IT's settings: the commented template, once. An upgrade never overwrites IT's edits and the
; uninstaller leaves them; the current template sits in {app}\examples to compare with.
Source: "..\{#ConfigName}"; DestDir: "{#ConfigDir}"; Flags: onlyifdoesntexist uninsneveruninstall
Source: "..\{#ConfigName}"; DestDir: "{app}\examples"; Flags: ignoreversion
; The guide and the font's licence, as the Debian package ships them.
Source: "..\..\docs\deploy.md"; DestDir: "{app}\docs"; Flags: ignoreversion
Source: "..\..\resources\OFL-AtkinsonHyperlegible.txt"; DestDir: "{app}\docs"; Flags: ignoreversion
; Sets up (or removes) the autostart; IT can run it again by hand.
Source: "autostart.ps1"; DestDir: "{app}\tools"; Flags: ignoreversion

[Registry]
; Machine-wide, like the Linux wrapper's defaults: the kiosk (whichever way it starts) and
; every command IT runs (gea-kiosk status, enroll, --selftest) use the installed kiosk's files.
Root: HKLM; Subkey: "SYSTEM\CurrentControlSet\Control\Session Manager\Environment"; ValueType: string; ValueName: "{#DataDirEnv}"; ValueData: "{#DataDir}"; Flags: uninsdeletevalue
Root: HKLM; Subkey: "SYSTEM\CurrentControlSet\Control\Session Manager\Environment"; ValueType: string; ValueName: "{#ConfigEnv}"; ValueData: "{#ConfigDir}\{#ConfigName}"; Flags: uninsdeletevalue
; The account and autostart chosen, for the next upgrade and for the uninstaller.
Root: HKLM; Subkey: "{#StateKey}"; ValueType: string; ValueName: "KioskUser"; ValueData: "{code:KioskUserValue}"; Flags: uninsdeletekey
Root: HKLM; Subkey: "{#StateKey}"; ValueType: string; ValueName: "Autostart"; ValueData: "{code:AutostartValue}"; Flags: uninsdeletekey

[Icons]
; For the kiosk account (or IT's trial) to start the kiosk by hand; the autostart is separate.
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#ExeName}"; WorkingDir: "{app}"

[Code]
const
  // Well-known SIDs, so that icacls works in every language of Windows ("Administratoren", ...).
  SidSystem = '*S-1-5-18';
  SidAdministrators = '*S-1-5-32-544';
  SidUsers = '*S-1-5-32-545';
  // Setup's exit code when the kiosk is installed but IT has something left to do (Inno's own
  // codes are 0 to 8).
  ExitFollowUp = 10;
  // autostart.ps1's exit codes.
  AutostartNoProfile = 3;
  AutostartNeedsSystem = 4;

var
  AccountPage: TInputQueryWizardPage;
  AutostartPage: TInputOptionWizardPage;
  EnrollPage: TInputQueryWizardPage;
  // What the last install chose (empty on a first install).
  PreviousUser, PreviousAutostart: String;
  KioskWasRunning: Boolean;
  PurgeRequested: Boolean;
  // What IT must still do: shown at the end, written to the log, and the exit code says so.
  Problems: String;

// Setup's own environment predates the variables it writes: the kiosk it runs needs them too.
function SetEnvironmentVariable(lpName, lpValue: String): Boolean;
  external 'SetEnvironmentVariableW@kernel32.dll stdcall';

// ---- Small helpers --------------------------------------------------------------------------

function Quote(const S: String): String;
begin
  Result := '"' + S + '"';
end;

function ConfigDir: String;
begin
  Result := ExpandConstant('{#ConfigDir}');
end;

function DataDir: String;
begin
  Result := ExpandConstant('{#DataDir}');
end;

function EnrollFile: String;
begin
  Result := ConfigDir + '\{#EnrollName}';
end;

function KioskExe: String;
begin
  Result := ExpandConstant('{app}\{#ExeName}');
end;

// A /NAME=value parameter, or '' when it was not given.
function CmdParam(const Name: String): String;
begin
  Result := Trim(ExpandConstant('{param:' + Name + '|}'));
end;

// A bare /NAME switch (the uninstaller's /PURGE).
function HasSwitch(const Name: String): Boolean;
var
  I: Integer;
begin
  Result := False;
  for I := 1 to ParamCount do
    if CompareText(ParamStr(I), '/' + Name) = 0 then
      Result := True;
end;

function StoredValue(const Name: String): String;
begin
  if not RegQueryStringValue(HKLM, '{#StateKey}', Name, Result) then
    Result := '';
end;

procedure AddProblem(const Text: String);
begin
  Log('STILL TO DO: ' + Text);
  Problems := Problems + #13#10#13#10 + Text;
end;

// Runs a program and waits for it; what it prints goes to Setup's log. True when it exits 0.
function RunLogged(const Filename, Params: String; var ExitCode: Integer): Boolean;
begin
  Log('Running: ' + Filename + ' ' + Params);
  if not ExecAndLogOutput(Filename, Params, '', SW_SHOWNORMAL, ewWaitUntilTerminated, ExitCode, nil) then
  begin
    Log('Could not start it: ' + SysErrorMessage(ExitCode));
    ExitCode := -1;
  end;
  Log(Format('Exit code %d', [ExitCode]));
  Result := ExitCode = 0;
end;

function Icacls(const Params: String): Boolean;
var
  ExitCode: Integer;
begin
  Result := RunLogged(ExpandConstant('{sys}\icacls.exe'), Params, ExitCode);
end;

function RunAutostartScript(const User, Mode, Extra: String): Integer;
begin
  RunLogged(ExpandConstant('{sys}\WindowsPowerShell\v1.0\powershell.exe'),
    '-NoProfile -NonInteractive -ExecutionPolicy Bypass -File ' +
    Quote(ExpandConstant('{app}\tools\autostart.ps1')) + ' -User ' + Quote(User) + ' -Mode ' + Mode + Extra,
    Result);
end;

// The kiosk's processes, in whichever session (WMI sees them all).
function KioskIsRunning: Boolean;
var
  Locator, Service, Processes: Variant;
begin
  try
    Locator := CreateOleObject('WbemScripting.SWbemLocator');
    Service := Locator.ConnectServer('.', 'root\CIMV2');
    Processes := Service.ExecQuery('SELECT ProcessId FROM Win32_Process WHERE Name = ''{#ExeName}''');
    Result := Processes.Count > 0;
  except
    Result := False;
  end;
end;

// Killing is safe: every submission is committed to SQLite before the citizen sees its receipt,
// and the queue survives any stop.
procedure StopKiosk;
var
  ExitCode: Integer;
begin
  RunLogged(ExpandConstant('{sys}\taskkill.exe'), '/F /T /IM {#ExeName}', ExitCode);
end;

// ---- The wizard's questions (also filled from the command line in silent installs) -----------

function KioskUser: String;
begin
  Result := Trim(AccountPage.Values[0]);
end;

function AutostartMode: String;
begin
  if KioskUser = '' then
    Result := 'none'
  else if AutostartPage.SelectedValueIndex = 1 then
    Result := 'shelllauncher'
  else if AutostartPage.SelectedValueIndex = 2 then
    Result := 'none'
  else
    Result := 'startup';
end;

// autostart.ps1's name for a mode.
function ScriptMode(const Mode: String): String;
begin
  if Mode = 'shelllauncher' then
    Result := 'ShellLauncher'
  else
    Result := 'Startup';
end;

function KioskUserValue(Param: String): String;
begin
  Result := KioskUser;
end;

function AutostartValue(Param: String): String;
begin
  Result := AutostartMode;
end;

function IsPrintableAscii(const S: String): Boolean;
var
  I: Integer;
begin
  Result := True;
  for I := 1 to Length(S) do
    if (Ord(S[I]) < 32) or (Ord(S[I]) > 126) then
      Result := False;
end;

// '' when the enrollment given is usable (or none was given), else what is wrong with it. The
// kiosk checks the values themselves when it enrolls; this catches what would make a bad file.
function EnrollmentError(const Server, Code, PinHash: String): String;
begin
  Result := '';
  if (Server = '') and (Code = '') and (PinHash = '') then
    Exit;
  if (Server = '') or (Code = '') then
    Result := 'The server URL and the one-time code go together (/SERVER and /CODE).'
  else if (Pos('https://', Lowercase(Server)) <> 1) and (Pos('http://', Lowercase(Server)) <> 1) then
    Result := 'The server URL must start with https:// (for example https://feedback.gov.gd).'
  else if not (IsPrintableAscii(Server) and IsPrintableAscii(Code) and IsPrintableAscii(PinHash)) then
    Result := 'The server URL, code and PIN hash are plain ASCII text.';
end;

function AutostartError(const Mode: String): String;
begin
  Result := '';
  if (Mode <> '') and (Mode <> 'startup') and (Mode <> 'shelllauncher') and (Mode <> 'none') then
    Result := '/AUTOSTART takes startup, shelllauncher or none, not "' + Mode + '".';
end;

function InitializeSetup: Boolean;
var
  Failure: String;
begin
  PreviousUser := StoredValue('KioskUser');
  PreviousAutostart := StoredValue('Autostart');
  // A silent install has nobody to correct its parameters: refuse them before installing anything.
  Failure := AutostartError(Lowercase(CmdParam('AUTOSTART')));
  if Failure = '' then
    Failure := EnrollmentError(CmdParam('SERVER'), CmdParam('CODE'), CmdParam('PINHASH'));
  Result := Failure = '';
  if not Result then
  begin
    Log(Failure);
    SuppressibleMsgBox(Failure, mbCriticalError, MB_OK, IDOK);
  end;
end;

procedure InitializeWizard;
var
  Mode: String;
begin
  AccountPage := CreateInputQueryPage(wpSelectDir,
    'Kiosk account', 'Which Windows account runs the kiosk?',
    'The kiosk runs as a standard local account that signs in by itself (create it first). Its ' +
    'data folder (' + DataDir + ': the queue of citizens'' submissions, the device token, the logs) ' +
    'is given to that account alone.' + #13#10#13#10 +
    'Leave it empty for a trial: any account that signs in may then run the kiosk, and nothing ' +
    'starts it by itself.');
  AccountPage.Add('&Account name:', False);
  AccountPage.Values[0] := CmdParam('KIOSKUSER');
  if AccountPage.Values[0] = '' then
    AccountPage.Values[0] := PreviousUser;

  AutostartPage := CreateInputOptionPage(AccountPage.ID,
    'Starting the kiosk', 'How does the kiosk start when its account signs in?',
    'With automatic sign-in (Sysinternals Autologon, see deploy.md) the kiosk is on screen after ' +
    'power-on.', True, False);
  AutostartPage.Add('A shortcut in the account''s Startup folder (Windows 10/11 Pro; the account must have signed in once)');
  AutostartPage.Add('Shell Launcher v2: the kiosk replaces the desktop for that account, and restarts if it stops (Enterprise, Education, IoT Enterprise; needs SYSTEM, see deploy.md)');
  AutostartPage.Add('Nothing: it is started some other way');
  Mode := Lowercase(CmdParam('AUTOSTART'));
  if Mode = '' then
    Mode := PreviousAutostart;
  if Mode = 'shelllauncher' then
    AutostartPage.SelectedValueIndex := 1
  else if Mode = 'none' then
    AutostartPage.SelectedValueIndex := 2
  else
    AutostartPage.SelectedValueIndex := 0;

  EnrollPage := CreateInputQueryPage(AutostartPage.ID,
    'Enrollment', 'Connect this kiosk to the feedback server',
    'The server''s address and the one-time code from "gea-server devices add", and the staff PIN''s ' +
    'hash from "gea-kiosk pin-hash". Setup enrolls the kiosk with them once it is installed.' + #13#10#13#10 +
    'Leave them empty to enroll later, or when upgrading an enrolled kiosk. An ' + EnrollFile +
    ' put there beforehand is used all the same.');
  EnrollPage.Add('&Server URL:', False);
  EnrollPage.Add('One-time &code:', False);
  EnrollPage.Add('Staff &PIN hash (optional):', False);
  EnrollPage.Values[0] := CmdParam('SERVER');
  EnrollPage.Values[1] := CmdParam('CODE');
  EnrollPage.Values[2] := CmdParam('PINHASH');
end;

function ShouldSkipPage(PageID: Integer): Boolean;
begin
  Result := (PageID = AutostartPage.ID) and (KioskUser = '');
end;

function NextButtonClick(CurPageID: Integer): Boolean;
var
  Failure: String;
begin
  Result := True;
  if CurPageID = EnrollPage.ID then
  begin
    Failure := EnrollmentError(Trim(EnrollPage.Values[0]), Trim(EnrollPage.Values[1]), Trim(EnrollPage.Values[2]));
    if Failure <> '' then
    begin
      SuppressibleMsgBox(Failure, mbError, MB_OK, IDOK);
      Result := False;
    end;
  end;
end;

// ---- Installing -----------------------------------------------------------------------------

function PrepareToInstall(var NeedsRestart: Boolean): String;
begin
  Result := '';
  // An upgrade: stop the kiosk so its files can be replaced. NeedRestart brings it back.
  KioskWasRunning := KioskIsRunning;
  if KioskWasRunning then
    StopKiosk;
end;

// The permissions, with icacls (IT can run the same commands to repair them):
//   ConfigDir: administrators change it, the kiosk account reads it (kiosk.toml holds the staff
//     PIN's hash, which other accounts must not take away to guess at); no account named: the
//     Users group, for a trial. Without this, C:\ProgramData would let any user add files there.
//   DataDir: the kiosk account alone changes and reads it (SYSTEM and administrators keep access
//     for backups, Setup's enrollment and /PURGE, as root does on Linux). No account named: the
//     Users group, for a trial.
//   enroll.toml: administrators only: it holds a one-time code and the PIN's hash.
procedure SetPermissions;
var
  Kiosk, Reader: String;
begin
  if KioskUser <> '' then
    Reader := Quote(KioskUser + ':(OI)(CI)RX')
  else
    Reader := SidUsers + ':(OI)(CI)RX';
  if not Icacls(Quote(ConfigDir) + ' /inheritance:r /grant:r ' + SidSystem + ':(OI)(CI)F ' +
      SidAdministrators + ':(OI)(CI)F ' + Reader) then
    AddProblem('The permissions of ' + ConfigDir + ' could not be set: see Setup''s log (icacls).');
  if KioskUser <> '' then
    Kiosk := Quote(KioskUser + ':(OI)(CI)M')
  else
    Kiosk := SidUsers + ':(OI)(CI)M';
  if not Icacls(Quote(DataDir) + ' /inheritance:r /grant:r ' + SidSystem + ':(OI)(CI)F ' +
      SidAdministrators + ':(OI)(CI)F ' + Kiosk) then
    AddProblem('The data folder ' + DataDir + ' could not be given to the kiosk''s account ("' + KioskUser +
      '": does it exist?). Create the account, then run Setup again.')
  else if (PreviousUser <> '') and (CompareText(PreviousUser, KioskUser) <> 0) then
    // The account changed: the previous one loses its access.
    Icacls(Quote(DataDir) + ' /remove:g ' + Quote(PreviousUser));
  if FileExists(EnrollFile) then
    Icacls(Quote(EnrollFile) + ' /inheritance:r /grant:r ' + SidSystem + ':F ' + SidAdministrators + ':F');
end;

procedure AddTomlKey(var Text: String; const Key, Value: String);
var
  Escaped: String;
begin
  if Value = '' then
    Exit;
  Escaped := Value;
  StringChangeEx(Escaped, '\', '\\', True);
  StringChangeEx(Escaped, '"', '\"', True);
  Text := Text + Key + ' = "' + Escaped + '"' + #13#10;
end;

// enroll.toml from /SERVER, /CODE, /PINHASH (or the Enrollment page), with the keys of
// installer/linux/enroll.toml.example: the kiosk reads it the same way on both systems.
procedure WriteEnrollFile;
var
  Text: String;
begin
  if Trim(EnrollPage.Values[0]) = '' then
    Exit; // nothing given: an enroll.toml IT put there (if any) is used as it is
  Text := '# Written by GEA Kiosk Setup. The kiosk deletes it once enrolled; after a failure it stays' + #13#10 +
          '# here to fix, and "gea-kiosk enroll --from-file" (as administrator) tries again.' + #13#10;
  AddTomlKey(Text, 'server_url', Trim(EnrollPage.Values[0]));
  AddTomlKey(Text, 'code', Trim(EnrollPage.Values[1]));
  AddTomlKey(Text, 'pin_hash', Trim(EnrollPage.Values[2]));
  // Made empty and closed to other accounts before the secrets go in (an existing file keeps
  // its permissions when it is rewritten). ASCII only (checked above), so ANSI is UTF-8 here.
  if not SaveStringToFile(EnrollFile, '', False) then
  begin
    AddProblem('Could not write ' + EnrollFile + '.');
    Exit;
  end;
  Icacls(Quote(EnrollFile) + ' /inheritance:r /grant:r ' + SidSystem + ':F ' + SidAdministrators + ':F');
  if not SaveStringToFile(EnrollFile, Text, False) then
    AddProblem('Could not write ' + EnrollFile + '.');
end;

// Enrollment as administrator: the files it makes in the data folder inherit the kiosk
// account's access from the folder (on Windows the kiosk does not switch accounts, unlike
// root's enrollment on Linux).
procedure Enroll;
var
  ExitCode: Integer;
begin
  if not FileExists(EnrollFile) then
    Exit;
  WizardForm.StatusLabel.Caption := 'Enrolling the kiosk with the server...';
  if RunLogged(KioskExe, 'enroll --from-file ' + Quote(EnrollFile), ExitCode) then
    Log('Enrolled; the kiosk removed ' + EnrollFile + '.')
  else
    AddProblem(Format('The enrollment failed (exit code %d). Why is in Setup''s log, in %s\logs\cli.log ' +
      'and on the kiosk''s staff screen. %s is kept: fix it (or ask for a new code with ' +
      '"gea-server devices reenroll"), then run as administrator:' + #13#10 + '  "%s" enroll --from-file "%s"',
      [ExitCode, DataDir, EnrollFile, KioskExe, EnrollFile]));
end;

// What IT would see with `gea-kiosk --selftest`, in Setup's log. Run as administrator it
// cannot tell whether the kiosk account may write the data folder; the rest holds.
procedure SelfTest;
var
  ExitCode: Integer;
begin
  WizardForm.StatusLabel.Caption := 'Checking the kiosk (gea-kiosk --selftest)...';
  SetEnvironmentVariable('QT_QPA_PLATFORM', 'offscreen');
  if not RunLogged(KioskExe, '--selftest', ExitCode) then
    AddProblem('The self-test found something the kiosk cannot work without: its report is in ' +
      'Setup''s log ("gea-kiosk --selftest" shows it again).');
end;

procedure SetUpAutostart;
var
  Mode, Script: String;
  ExitCode: Integer;
begin
  Mode := AutostartMode;
  // The previous choice goes first when the account or the way changed.
  if (PreviousAutostart = 'startup') or (PreviousAutostart = 'shelllauncher') then
    if (CompareText(PreviousUser, KioskUser) <> 0) or (PreviousAutostart <> Mode) then
      if RunAutostartScript(PreviousUser, ScriptMode(PreviousAutostart), ' -Remove') <> 0 then
        AddProblem('The previous autostart (' + PreviousAutostart + ' for "' + PreviousUser +
          '") could not be removed: run autostart.ps1 -Remove (see deploy.md).');
  if Mode = 'none' then
    Exit;
  // Shell Launcher already starts this same gea-kiosk.exe for this account: nothing to change
  // (and an upgrade then needs no SYSTEM).
  if (Mode = 'shelllauncher') and (PreviousAutostart = Mode) and (CompareText(PreviousUser, KioskUser) = 0) then
    Exit;
  ExitCode := RunAutostartScript(KioskUser, ScriptMode(Mode), '');
  Script := Quote(ExpandConstant('{app}\tools\autostart.ps1')) + ' -User ' + Quote(KioskUser) + ' -Mode ' + ScriptMode(Mode);
  if ExitCode = AutostartNoProfile then
    AddProblem('"' + KioskUser + '" has never signed in, so it has no Startup folder yet: sign in once ' +
      'as that account, then run as administrator: powershell -ExecutionPolicy Bypass -File ' + Script)
  else if ExitCode = AutostartNeedsSystem then
    AddProblem('Windows takes Shell Launcher settings from SYSTEM only: run Setup from your deployment ' +
      'tool (Intune, Configuration Manager), or run: psexec.exe -i -s powershell.exe -ExecutionPolicy Bypass -File ' + Script)
  else if ExitCode <> 0 then
    AddProblem('The autostart could not be set up (exit code ' + IntToStr(ExitCode) + ', see Setup''s log). ' +
      'Run as administrator: powershell -ExecutionPolicy Bypass -File ' + Script);
end;

procedure CurStepChanged(CurStep: TSetupStep);
begin
  if CurStep = ssPostInstall then
  begin
    SetEnvironmentVariable('{#DataDirEnv}', DataDir);
    SetEnvironmentVariable('{#ConfigEnv}', ConfigDir + '\{#ConfigName}');
    SetPermissions;
    WriteEnrollFile;
    Enroll;
    SelfTest;
    SetUpAutostart;
    if Problems <> '' then
      SuppressibleMsgBox('The kiosk is installed. Still to do:' + Problems, mbInformation, MB_OK, IDOK);
  end;
end;

// A kiosk stopped for the upgrade comes back on the new version at the restart, however this
// machine starts it (nothing here can start it in the kiosk account's own session).
function NeedRestart: Boolean;
begin
  Result := KioskWasRunning;
end;

function GetCustomSetupExitCode: Integer;
begin
  if Problems <> '' then
    Result := ExitFollowUp
  else
    Result := 0;
end;

// ---- Uninstalling: the program goes; the queue and IT's settings stay unless asked -----------

function WantsPurge: Boolean;
begin
  if HasSwitch('PURGE') then
    Result := True
  else if UninstallSilent then
    Result := False
  else
    Result := MsgBox('Also delete this kiosk''s data and settings (' + ConfigDir + ')?' + #13#10#13#10 +
      'Submissions the server has not received yet would be lost, and the kiosk would have to be ' +
      'enrolled again. Choose No to keep them for a reinstall.', mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  User, Mode: String;
begin
  if CurUninstallStep = usUninstall then
  begin
    PurgeRequested := WantsPurge;
    StopKiosk;
    User := StoredValue('KioskUser');
    Mode := StoredValue('Autostart');
    if (User <> '') and ((Mode = 'startup') or (Mode = 'shelllauncher')) then
      if RunAutostartScript(User, ScriptMode(Mode), ' -Remove') <> 0 then
        AddProblem('The autostart for "' + User + '" (' + Mode + ') is still set up. ' +
          'Shell Launcher can only be removed as SYSTEM: see deploy.md, "Uninstall".');
  end
  else if CurUninstallStep = usPostUninstall then
  begin
    if PurgeRequested then
    begin
      if not DelTree(ConfigDir, True, True, True) then
        AddProblem('Could not delete all of ' + ConfigDir + '.');
      RemoveDir(ExpandConstant('{#ConfigRoot}')); // only if nothing else of GEA's is there
    end;
    if (Problems <> '') and not UninstallSilent then
      MsgBox('The kiosk is uninstalled. Still to do:' + Problems, mbInformation, MB_OK);
  end;
end;
