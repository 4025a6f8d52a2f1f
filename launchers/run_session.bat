@echo off
rem Double-click to run a session (Windows). Works from any folder: it finds the project
rem next to this file. First time: double-click demo.bat in the project folder (it installs).
setlocal
set "ROOT=%~dp0.."
if not exist "%ROOT%\.venv\Scripts\python.exe" (
    echo The project's environment is missing: double-click demo.bat in the project folder once, it installs everything.
    pause
    exit /b 1
)
"%ROOT%\.venv\Scripts\python.exe" "%ROOT%\run_experiment.py" %*
if errorlevel 1 pause
