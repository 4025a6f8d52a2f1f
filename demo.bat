@echo off
rem Run the demo session (Windows). Installs what is missing first; the work is done in
rem Python (tools\setup.py, tools\demo.py), the same on every system.
setlocal
cd /d "%~dp0"
set "PY=python"
where py >nul 2>nul && set "PY=py -3"
%PY% tools\setup.py runtime || goto :failed
".venv\Scripts\python.exe" tools\demo.py %*
exit /b %errorlevel%
:failed
echo The set-up did not finish: read its last line above. Python 3.10-3.12 comes from python.org.
pause
exit /b 1
