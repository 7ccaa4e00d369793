module github.com/wfpsandbox/wfpsandbox

go 1.26
