; Confer's Windows installer (NSIS 3). Installs for the current user, without administrator
; rights: the program under %LOCALAPPDATA%\Programs\Confer, a Start menu entry, the confer://
; URL protocol under HKCU\Software\Classes, and an entry in "Installed apps" to remove it all.
;   makensis /DVERSION=0.1.0 /DBINARY=path\to\confer.exe /DICON=path\to\confer.ico confer.nsi
; (packaging/windows/build-installer.ps1 does this.)

Unicode true
; A 64-bit installer for the 64-bit program (and one that 64-bit Wine runs in the tests).
Target amd64-unicode
!include "MUI2.nsh"

!ifndef VERSION
  !error "give /DVERSION=..."
!endif
!ifndef BINARY
  !error "give /DBINARY=path\to\confer.exe"
!endif
!ifndef ICON
  !error "give /DICON=path\to\confer.ico"
!endif
!ifndef OUTFILE
  !define OUTFILE "Confer-${VERSION}-setup.exe"
!endif

!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\Confer"
!define PROTOCOL_KEY "Software\Classes\confer"

Name "Confer"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\Confer"
InstallDirRegKey HKCU "${UNINSTALL_KEY}" "InstallLocation"
RequestExecutionLevel user
SetCompressor /SOLID lzma
!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_FINISHPAGE_RUN "$INSTDIR\confer.exe"

!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"
!insertmacro MUI_LANGUAGE "SimpChinese"

Section "Confer"
  SetOutPath "$INSTDIR"
  File "/oname=confer.exe" "${BINARY}"
  File "/oname=confer.ico" "${ICON}"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateShortcut "$SMPROGRAMS\Confer.lnk" "$INSTDIR\confer.exe" "" "$INSTDIR\confer.ico"

  ; confer://... runs confer.exe with the link as one argument: both the program's path and
  ; %1 are quoted, so spaces in either cannot split or inject arguments.
  WriteRegStr HKCU "${PROTOCOL_KEY}" "" "URL:Confer meeting link"
  WriteRegStr HKCU "${PROTOCOL_KEY}" "URL Protocol" ""
  WriteRegStr HKCU "${PROTOCOL_KEY}\DefaultIcon" "" '"$INSTDIR\confer.exe",0'
  WriteRegStr HKCU "${PROTOCOL_KEY}\shell\open\command" "" '"$INSTDIR\confer.exe" "%1"'

  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "Confer"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "The Confer developers"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" '"$INSTDIR\confer.ico"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
SectionEnd

Section "Uninstall"
  Delete "$SMPROGRAMS\Confer.lnk"
  DeleteRegKey HKCU "${PROTOCOL_KEY}"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
  Delete "$INSTDIR\confer.exe"
  Delete "$INSTDIR\confer.ico"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
SectionEnd
