/* A waiter for the Wine tests only (tests/windows.rs): runs the program named after it, with
 * the rest of its command line, waits for it as a Windows program waits for another, and
 * writes the program's exit code to the file that CONFER_TEST_EXIT_CODE names.
 *
 * Why: the Linux status of `wine PROGRAM` is not always the program's exit code. Wine's server
 * sends SIGKILL to a program's Linux process that is still there about half a second after its
 * last thread ended (it polls the process, then kills the straggler), which happens on a busy
 * machine: `confer.exe` had printed that it handed its link over, and exited 0 as far as
 * Windows knew, while the test saw "signal 9". What Windows reports to whoever waits for the
 * program (GetExitCodeProcess) is what a user's shell sees, so that is what the tests check.
 *
 * The waiter exits with the program's code too, and with 120 to 123 when it could not do its
 * own part (no file named, no program started, no code, file not written). */

#include <windows.h>

/* The command line after its first argument, which Windows' rules (and Wine's, building the
 * line from the Linux arguments) quote when it holds a space. */
static const wchar_t *after_first_argument(const wchar_t *line)
{
    if (*line == L'"') {
        line++;
        while (*line && *line != L'"')
            line++;
        if (*line)
            line++;
    } else {
        while (*line && *line != L' ' && *line != L'\t')
            line++;
    }
    while (*line == L' ' || *line == L'\t')
        line++;
    return line;
}

int main(void)
{
    wchar_t path[MAX_PATH];
    DWORD length = GetEnvironmentVariableW(L"CONFER_TEST_EXIT_CODE", path, MAX_PATH);
    if (length == 0 || length >= MAX_PATH)
        return 120;

    /* The program gets this process's standard handles: its output goes where the test
     * reads it. */
    STARTUPINFOW startup = {0};
    startup.cb = sizeof startup;
    startup.dwFlags = STARTF_USESTDHANDLES;
    startup.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    startup.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
    startup.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    PROCESS_INFORMATION process;
    /* CreateProcessW may write into the line it is given: a copy of ours. */
    const wchar_t *rest = after_first_argument(GetCommandLineW());
    wchar_t *command = HeapAlloc(GetProcessHeap(), 0, (lstrlenW(rest) + 1) * sizeof(wchar_t));
    if (!command)
        return 121;
    lstrcpyW(command, rest);
    if (!CreateProcessW(NULL, command, NULL, NULL, TRUE, 0, NULL, NULL, &startup, &process))
        return 121;
    CloseHandle(process.hThread);
    WaitForSingleObject(process.hProcess, INFINITE);
    DWORD code;
    if (!GetExitCodeProcess(process.hProcess, &code))
        return 122;
    CloseHandle(process.hProcess);

    char text[16];
    int size = wsprintfA(text, "%lu\n", (unsigned long)code);
    HANDLE file = CreateFileW(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL,
                              NULL);
    DWORD written = 0;
    BOOL wrote = file != INVALID_HANDLE_VALUE && WriteFile(file, text, (DWORD)size, &written, NULL)
                 && written == (DWORD)size;
    if (file != INVALID_HANDLE_VALUE)
        CloseHandle(file);
    return wrote ? (int)code : 123;
}
