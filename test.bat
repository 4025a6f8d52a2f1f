@echo off
rem Run the linters and the tests (Windows). Installs what is missing first; the work is done
rem in Python (tools\setup.py, tools\run_tests.py), the same on every system.
setlocal
cd /d "%~dp0"
set "PY=python"
where py >nul 2>nul && set "PY=py -3"
%PY% tools\setup.py dev || exit /b 1
".venv\Scripts\python.exe" tools\run_tests.py %*
exit /b %errorlevel%
